import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDStore

/// The salt table: rotation runs, incremental reload, and reading one bucket.
extension StoreContractTests {
    @Test(arguments: StoreBackend.available)
    func saltRunsRotateRescheduleAndDropOldPreviousSalts(_ backend: StoreBackend) async throws {
        try await backend.withStore { store, _ async throws in
            var (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 16)
            let runAt = Self.start + 40 * SaltSchedule.dayMillis
            // Bucket 0 is not due and was rotated long ago: only its previous salt goes.
            var old = contents.salts[0]
            old.previousSalt = Array("an-old-previous-salt".utf8)
            old.lastUpdatedMillis = Self.start - 100 * SaltSchedule.dayMillis
            old.refreshFromMillis = runAt + 10 * SaltSchedule.dayMillis
            _ = contents.salts.replace(at: 0, with: old)
            try await store.initialize(with: contents)

            let outcome = try #require(try await Self.rotateSalts(store, nowMillis: runAt, schedule: SaltSchedule(fractionPerDay: 0.25, minimumAgeDays: 0)))
            // A 4th of 16 is 4, of which at most 80 % (3) from one age window; the other 12 due buckets are rescheduled.
            #expect(outcome.buckets == 16 && outcome.rotated == 3 && outcome.rescheduled == 12 && outcome.previousSaltsDropped == 1)
            let rotated = try await store.loadContents().salts
            let changed = (0..<16).filter { rotated[$0].currentSalt != contents.salts[$0].currentSalt }
            #expect(changed.count == 3 && !changed.contains(0))
            #expect(changed.allSatisfy { rotated[$0].previousSalt == contents.salts[$0].currentSalt && rotated[$0].lastUpdatedMillis == runAt })
            #expect(changed.allSatisfy { rotated[$0].refreshFromMillis > runAt && rotated[$0].currentSalt?.count == 44 })
            let rescheduled = (1..<16).filter { !changed.contains($0) }
            #expect(rescheduled.allSatisfy { rotated[$0].currentSalt == contents.salts[$0].currentSalt && rotated[$0].refreshFromMillis > runAt })
            #expect(rotated[0].previousSalt == nil && rotated[0].currentSalt == old.currentSalt && rotated[0].refreshFromMillis == old.refreshFromMillis)

            // The day's run is recorded: a run asking to skip if one happened since then does nothing.
            let skipped = try await store.rotateSalts(nowMillis: runAt + 2, dueBeforeMillis: .max, skipIfRunSinceMillis: runAt) { _, _ in
                Issue.record("a run already recorded since then: no plan asked for")
                var generator = SystemRandomNumberGenerator()
                return SaltSchedule().plan(candidates: [], totalBuckets: 0, nowMillis: 0, using: &generator)
            }
            #expect(skipped == nil)
            let nothing = try await Self.rotateSalts(store, nowMillis: runAt + 3, dueBeforeMillis: 0)
            #expect(nothing == SaltRotationOutcome(rotated: 0, rescheduled: 0, previousSaltsDropped: 0, buckets: 16))
            let unchanged = try await store.loadContents().salts
            #expect((0..<16).allSatisfy { unchanged[$0] == rotated[$0] })
        }
    }

    @Test(arguments: StoreBackend.available)
    func saltChangesPatchATableIntoTheStoredOne(_ backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in try await SaltChangesCheck.run(store) }
    }

    @Test(arguments: StoreBackend.available)
    func oneIdentityResolvesFromItsBucketAsFromTheSnapshot(_ backend: StoreBackend) async throws {
        try await backend.withStore { store, _ async throws in
            var (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 7)
            var salts = SaltTable(firstLevelSalt: contents.salts.firstLevelSalt, idPrefix: "b", idSecret: "s")
            let material = SaltKeyMaterial(id: 2_100_002, key: Array("key12345key12345key12345key12340".utf8), salt: Array("salt1234salt1234salt1234salt1230".utf8))
            for position in 0..<7 {
                var entry = contents.salts[position]
                if position % 2 == 1 { entry.currentSalt = nil; entry.currentKey = material }
                if position == 2 { entry.previousSalt = Array("previous".utf8); entry.previousKey = material }
                salts.append(entry)
            }
            contents.salts = salts
            try await store.initialize(with: contents)
            let snapshot = try OperatorSnapshot(config: OperatorConfig(), contents: contents)
            #expect(try await store.saltTableHeader() == SaltTableHeader(firstLevelSalt: salts.firstLevelSalt, idPrefix: "b", idSecret: "s", bucketCount: 7))
            for position in 0..<7 { #expect(try await store.saltBucket(at: position) == salts[position], "bucket \(position)") }
            for index in 0..<30 {
                let hash = try #require(IdentityHash(kind: .email, value: "one.\(index)@example.com"))
                let alone = try #require(try await store.resolve(hash))
                let viaSnapshot = snapshot.resolve(hash)
                #expect(alone.firstLevelHash == viaSnapshot.firstLevelHash && alone.bucketIndex == viaSnapshot.bucketIndex)
                #expect(alone.bucket == viaSnapshot.bucket)
                #expect(alone.currentRawUID(options: snapshot.config.rawUIDOptions) == snapshot.currentRawUID(viaSnapshot))
            }
            #expect(try await store.saltBucket(at: 7) == nil)
            #expect(try await store.saltBucket(at: -1) == nil)
            #expect(try await store.saltBucket(at: Int.max) == nil)
        }
    }
}
