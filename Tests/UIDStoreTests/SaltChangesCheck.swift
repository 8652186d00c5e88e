import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol
import UIDStore

/// What both stores must do for incremental salt reload: after salt runs, the buckets changed since
/// a version patch a table loaded at that version into the table a full load gives; a table
/// written whole since (an import) allows only a full load.
enum SaltChangesCheck {
    static func run(_ store: any OperatorStore, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let seededAt: Int64 = 1_750_000_000_000
        let (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: seededAt, bucketCount: 300)
        try await store.initialize(with: contents)
        let seeded = try await store.version().salts
        #expect(try await store.saltChanges(after: seeded)?.buckets.isEmpty == true, sourceLocation: sourceLocation)
        #expect(try await store.saltChanges(after: seeded - 1) == nil, "older than the seeding: a full load", sourceLocation: sourceLocation)
        let atSeeding = try await store.loadContents().salts

        func run(day: Int64) async throws -> SaltRotationOutcome {
            let now = seededAt + day * SaltSchedule.dayMillis
            let outcome = try await store.rotateSalts(
                nowMillis: now, dueBeforeMillis: SaltSchedule.dueBeforeMillis(nowMillis: now), skipIfRunSinceMillis: SaltSchedule.dayStart(now)
            ) { candidates, total in
                var generator = SystemRandomNumberGenerator()
                return SaltSchedule(fractionPerDay: 0.02).plan(candidates: candidates, totalBuckets: total, nowMillis: now, using: &generator)
            }
            return try #require(outcome, sourceLocation: sourceLocation)
        }
        func patched(_ table: SaltTable, with changes: SaltChanges) -> SaltTable {
            var table = table
            for change in changes.buckets { table.replace(at: change.position, with: change.entry) }
            return table
        }

        let first = try await run(day: 3)
        #expect(first.rotated > 0 && first.rescheduled > 0, sourceLocation: sourceLocation)
        let afterFirst = try #require(try await store.saltChanges(after: seeded), sourceLocation: sourceLocation)
        #expect(afterFirst.version == (try await store.version().salts), sourceLocation: sourceLocation)
        #expect(afterFirst.buckets.count == first.rotated + first.rescheduled, "only the buckets the run changed", sourceLocation: sourceLocation)
        let firstTable = try await store.loadContents().salts
        let firstPatched = patched(atSeeding, with: afterFirst)
        #expect((0..<300).allSatisfy { firstPatched[$0] == firstTable[$0] }, sourceLocation: sourceLocation)

        _ = try await run(day: 4)
        let secondTable = try await store.loadContents().salts
        let sinceFirst = try #require(try await store.saltChanges(after: afterFirst.version), sourceLocation: sourceLocation)
        let sinceSeeding = try #require(try await store.saltChanges(after: seeded), sourceLocation: sourceLocation)
        #expect(sinceSeeding.buckets.count > sinceFirst.buckets.count, sourceLocation: sourceLocation)
        let fromFirst = patched(firstTable, with: sinceFirst)
        let fromSeeding = patched(atSeeding, with: sinceSeeding)
        #expect((0..<300).allSatisfy { fromFirst[$0] == secondTable[$0] && fromSeeding[$0] == secondTable[$0] }, sourceLocation: sourceLocation)

        try await store.replaceContents(with: contents)
        #expect(try await store.saltChanges(after: sinceFirst.version) == nil, "imported since: a full load", sourceLocation: sourceLocation)
    }
}
