import Foundation
import Logging
import Synchronization
import Testing
import UIDOperatorCore
import UIDProtocol
import UIDStore
@testable import UIDServer

@Suite struct PollScheduleTests {
    /// A source returning `values` in turn, then the last one.
    static func sequence(_ values: [Double]) -> @Sendable () -> Double {
        let next = Mutex(0)
        return {
            let index = next.withLock { index in
                defer { index += 1 }
                return index
            }
            return values[min(index, values.count - 1)]
        }
    }

    @Test func delaysFollowTheDrawnValuesWithinTheirBounds() {
        let schedule = PollSchedule(intervalMillis: 1000, jitter: 0.1, reloadSpreadMillis: 4000,
                                    unitRandom: Self.sequence([0.25, 0, 0.5, 0.75, 2.0, -1, .nan]))
        #expect(schedule.initialDelayMillis() == 250)
        #expect(schedule.nextDelayMillis() == 900)
        #expect(schedule.nextDelayMillis() == 1000)
        #expect(schedule.nextDelayMillis() == 1050)
        // A source outside [0, 1) is clamped, never trusted.
        #expect(schedule.nextDelayMillis() == 1100)
        #expect(schedule.reloadDelayMillis() == 0)
        #expect(schedule.initialDelayMillis() == 0)
    }

    @Test func aThousandNodesStartedTogetherSpreadOverTheInterval() {
        let phases = (0..<1000).map { node in
            PollSchedule(intervalMillis: 500, unitRandom: PollSchedule.seededRandom(UInt64(node))).initialDelayMillis()
        }
        #expect(phases.allSatisfy { (0..<500).contains($0) })
        // Every 50 ms slice of the interval holds some node, none most of them.
        let slices = Dictionary(grouping: phases) { $0 / 50 }
        #expect(slices.count == 10 && slices.values.allSatisfy { $0.count > 50 && $0.count < 150 })

        let schedule = PollSchedule(intervalMillis: 500, unitRandom: PollSchedule.seededRandom(7))
        let delays = (0..<1000).map { _ in schedule.nextDelayMillis() }
        #expect(delays.allSatisfy { (450...550).contains($0) })
        #expect(Set(delays).count > 50)
        // The same seed gives the same schedule.
        let again = PollSchedule(intervalMillis: 500, unitRandom: PollSchedule.seededRandom(7))
        #expect((0..<1000).map { _ in again.nextDelayMillis() } == delays)
    }

    @Test func aSpreadReloadWaitsItsTurnWhileOptOutsKeepArriving() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("spread-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SQLiteStore(path: path)
        _ = try await StoreBootstrap.seedIfEmpty(store, scope: .uid2, environment: .test, nowMillis: StoreSyncTests.seededAt, bucketCount: 64)
        let state = try await store.loadState(includingSalts: true, includingOptOuts: true)
        let holder = SnapshotHolder(try OperatorSnapshot(config: OperatorConfig(), contents: state.contents))
        let status = SyncStatus()
        let now = Mutex(StoreSyncTests.seededAt)
        let sync = StoreSync(
            store: store, holder: holder, status: status,
            schedule: PollSchedule(intervalMillis: 500, reloadSpreadMillis: 10_000, unitRandom: Self.sequence([0.3])),
            clock: OperatorClock { now.withLock { $0 } }, logger: Logger(label: "test"),
            initialVersion: state.version, initialWatermark: state.optOutWatermark, configuration: { _ in OperatorConfig() }
        )
        var progress = StoreSync.Progress(version: state.version, watermark: state.optOutWatermark)

        var renamed = try #require(state.contents.clients.first)
        renamed.name = "renamed"
        try store.updateClient(renamed)
        let flh = [UInt8](repeating: 7, count: 32)
        try await store.recordOptOut(OptOutRecord(firstLevelHash: flh, advertisingID: nil, optedOutSinceSeconds: 1))

        // Noticed, due 3 s later (0.3 of the spread): the opt-out applies now, the reload waits.
        try await sync.poll(&progress)
        #expect(holder.current.optedOutSince(firstLevelHash: flh) == 1)
        #expect(status.values.reloads == 0 && progress.reloadDueMillis == StoreSyncTests.seededAt + 3000)
        now.withLock { $0 += 2999 }
        try await sync.poll(&progress)
        #expect(status.values.reloads == 0)
        now.withLock { $0 += 1 }
        try await sync.poll(&progress)
        #expect(status.values.reloads == 1 && progress.reloadDueMillis == nil)
        #expect(holder.current.clients.clients.first { $0.keyID == renamed.keyID }?.name == "renamed")
        #expect(holder.current.optedOutSince(firstLevelHash: flh) == 1)
    }
}
