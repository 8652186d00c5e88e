import Foundation
import Logging
import Testing
import UIDOperatorCore
import UIDProtocol
import UIDStore
@testable import UIDServer

@Suite struct StoreSyncTests {
    static let seededAt: Int64 = 1_750_000_000_000

    @Test func changesThatChangeNothingRebuildNothingAndASaltRunAppliesOnlyItsBuckets() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sync-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SQLiteStore(path: path)
        _ = try await StoreBootstrap.seedIfEmpty(store, scope: .uid2, environment: .test, nowMillis: Self.seededAt, bucketCount: 600)
        let state = try await store.loadState(includingSalts: true, includingOptOuts: true)
        let holder = SnapshotHolder(try OperatorSnapshot(config: OperatorConfig(), contents: state.contents))
        let status = SyncStatus()
        let sync = StoreSync(
            store: store, holder: holder, status: status, interval: .milliseconds(10), logger: Logger(label: "test"),
            initialVersion: state.version, initialWatermark: state.optOutWatermark, configuration: { _ in OperatorConfig() }
        )
        var progress = StoreSync.Progress(version: state.version, watermark: state.optOutWatermark)
        func runSalts(day: Int64, dueBefore: Int64? = nil) async throws -> SaltRotationOutcome {
            let now = Self.seededAt + day * SaltSchedule.dayMillis
            let outcome = try await store.rotateSalts(
                nowMillis: now, dueBeforeMillis: dueBefore ?? SaltSchedule.dueBeforeMillis(nowMillis: now), skipIfRunSinceMillis: SaltSchedule.dayStart(now)
            ) { candidates, total in
                var generator = SystemRandomNumberGenerator()
                return SaltSchedule(fractionPerDay: 0.02).plan(candidates: candidates, totalBuckets: total, nowMillis: now, using: &generator)
            }
            return try #require(outcome)
        }
        func expectSaltsAsStored() throws {
            let stored = try store.loadContents().salts
            let held = holder.current.salts
            #expect(held.count == stored.count && (0..<stored.count).allSatisfy { held[$0] == stored[$0] })
        }

        // Changes that change nothing: the same client and site written again, a salt run with nothing due.
        let client = try #require(state.contents.clients.first)
        try store.updateClient(client)
        try store.updateSite(try #require(state.contents.sites.first))
        #expect(try await !runSalts(day: 1, dueBefore: 0).changedAnything)
        try await sync.poll(&progress)
        #expect(status.values.reloads == 0)

        // A configuration change: one rebuild, the salts kept as they are.
        var renamed = client
        renamed.name = "renamed"
        try store.updateClient(renamed)
        try await sync.poll(&progress)
        #expect(status.values.reloads == 1 && status.values.lastSaltBucketsApplied == nil)
        #expect(holder.current.clients.clients.first { $0.keyID == client.keyID }?.name == "renamed")

        // A salt run: only the buckets it changed reach the node, and the node's table equals the store's.
        let outcome = try await runSalts(day: 3)
        #expect(outcome.rotated > 0)
        try await sync.poll(&progress)
        #expect(status.values.reloads == 2)
        #expect(status.values.lastSaltBucketsApplied == outcome.rotated + outcome.rescheduled)
        try expectSaltsAsStored()
        #expect(progress.version == (try await store.version()))

        // A table written whole (an import): loaded whole.
        try store.replaceContents(with: state.contents)
        try await sync.poll(&progress)
        #expect(status.values.reloads == 3 && status.values.lastSaltBucketsApplied == 600)
        try expectSaltsAsStored()
    }
}
