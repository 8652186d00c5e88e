import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDStore

/// Opt-outs: recording, incremental fetching, durability, and concurrent writers.
extension StoreContractTests {
    @Test(arguments: StoreBackend.available)
    func optOutsAreFetchedIncrementallyAndKeepTheFirstRecord(_ backend: StoreBackend) async throws {
        try await backend.withStore { store, _ async throws in
            let uid = [UInt8](repeating: 4, count: 33)
            let before = Int64(Date().timeIntervalSince1970 * 1000)
            try await store.recordOptOut(OptOutRecord(firstLevelHash: Self.flh(1), advertisingID: nil, optedOutSinceSeconds: 100))
            try await store.recordOptOut(OptOutRecord(firstLevelHash: Self.flh(2), advertisingID: uid, optedOutSinceSeconds: 200))
            try await store.recordOptOut(OptOutRecord(firstLevelHash: Self.flh(3), advertisingID: nil, optedOutSinceSeconds: 300))
            let after = Int64(Date().timeIntervalSince1970 * 1000)

            let first = try await store.optOuts(after: 0)
            #expect(first.records.map(\.record.firstLevelHash) == [Self.flh(1), Self.flh(2), Self.flh(3)])
            #expect(first.records.map(\.record.optedOutSinceSeconds) == [100, 200, 300])
            #expect(first.records[1].record.advertisingID == uid && first.records[0].record.advertisingID == nil)
            // Bracketed by the clock around the writes, not a fixed window: a busy test run can keep
            // an awaiting test from resuming for many seconds. (PostgreSQL rounds its clock to the
            // millisecond where this truncates: one millisecond either side.)
            #expect(first.records.allSatisfy { (before - 1...after + 1).contains($0.recordedMillis) }, "recorded_ms is the recording time")
            #expect(first.watermark == 3)
            #expect(first.isLast, "a batch under the size limit says there is nothing more to ask for")
            #expect(try await store.optOuts(after: first.watermark).records.isEmpty)
            #expect(try await store.optOuts(after: 1).records.map(\.record.firstLevelHash) == [Self.flh(2), Self.flh(3)])

            // The same identity again: the first time stays, a missing advertising id is filled in,
            // an existing one is kept, and no new row is added.
            try await store.recordOptOut(OptOutRecord(firstLevelHash: Self.flh(1), advertisingID: uid, optedOutSinceSeconds: 999))
            try await store.recordOptOut(OptOutRecord(firstLevelHash: Self.flh(2), advertisingID: [UInt8](repeating: 5, count: 33), optedOutSinceSeconds: 999))
            #expect(try await store.optOutCount() == 3)
            let index = try await store.loadState(includingSalts: false, includingOptOuts: true).contents.optOuts
            #expect(index.count == 3)
            #expect(index.optedOutSince(firstLevelHash: Self.flh(1)) == 100)
            #expect(index.optedOutSince(advertisingID: uid) == 100)
            #expect(index.optedOutSince(advertisingID: [UInt8](repeating: 5, count: 33)) == nil)
            let recent = try await store.recentOptOuts(limit: 2)
            #expect(recent.map(\.firstLevelHash) == [Self.flh(3), Self.flh(2)])
            #expect(recent[1].advertisingID == uid && recent[1].optedOutSinceSeconds == 200)

            try await store.recordOptOut(OptOutRecord(firstLevelHash: Self.flh(4), advertisingID: nil, optedOutSinceSeconds: 400))
            // (Whether a repeated opt-out used up an id is the backend's business: ids only increase.)
            let next = try await store.optOuts(after: first.watermark)
            #expect(next.records.map(\.record.firstLevelHash) == [Self.flh(4)])
            #expect(next.watermark > first.watermark)
            #expect(try await store.optOuts(after: next.watermark).records.isEmpty)
            #expect(try await store.loadState(includingSalts: false, includingOptOuts: false).optOutWatermark == next.watermark)
            #expect(try await store.loadState(includingSalts: false, includingOptOuts: false).contents.optOuts.count == 0, "left out when not asked for")
        }
    }

    /// Acknowledged means written: another instance opened on the same store afterwards sees it.
    @Test(arguments: StoreBackend.available)
    func anAcknowledgedOptOutIsVisibleToAnotherInstance(_ backend: StoreBackend) async throws {
        try await backend.withLocation { location in
            let (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 8)
            let uid = [UInt8](repeating: 6, count: 33)
            try await location.withStore { store async throws in
                try await store.initialize(with: contents)
                try await store.recordOptOut(OptOutRecord(firstLevelHash: Self.flh(7), advertisingID: uid, optedOutSinceSeconds: 70))
                // Seen by an instance opened while the first is still open ...
                try await location.withStore { other async throws in
                    #expect(try await other.optOutCount() == 1)
                    let batch = try await other.optOuts(after: 0)
                    #expect(batch.records.map(\.record) == [OptOutRecord(firstLevelHash: Self.flh(7), advertisingID: uid, optedOutSinceSeconds: 70)])
                }
            }
            // ... and by one opened after it is gone.
            try await location.withStore { reopened async throws in
                let loaded = try await reopened.loadContents()
                #expect(loaded.optOuts.optedOutSince(firstLevelHash: Self.flh(7)) == 70)
                #expect(loaded.optOuts.optedOutSince(advertisingID: uid) == 70)
                #expect(try await reopened.recentOptOuts(limit: 5).map(\.firstLevelHash) == [Self.flh(7)])
            }
        }
    }

    @Test(arguments: StoreBackend.available)
    func instancesRecordingTheSameOptOutAtOnceKeepOneRow(_ backend: StoreBackend) async throws {
        try await backend.withLocation { location in
            let shared = Self.flh(8)
            let uid = [UInt8](repeating: 9, count: 33)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for node in 0..<2 {
                    group.addTask {
                        try await location.withStore { store async throws in
                            for index in stride(from: node, to: 40, by: 2) {
                                // Some without an advertising id: whichever comes first, the id gets filled in.
                                try await store.recordOptOut(OptOutRecord(firstLevelHash: shared, advertisingID: index % 4 == 1 ? uid : nil,
                                                                          optedOutSinceSeconds: Int64(100 + index)))
                                try await store.recordOptOut(OptOutRecord(firstLevelHash: Self.flh(UInt8(index + 10)), advertisingID: nil,
                                                                          optedOutSinceSeconds: Int64(index)))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await location.withStore { store async throws in
                #expect(try await store.optOutCount() == 41)
                let index = try await store.loadState(includingSalts: false, includingOptOuts: true).contents.optOuts
                #expect(index.count == 41)
                #expect(index.optedOutSince(advertisingID: uid) != nil)
                #expect((0..<40).allSatisfy { index.optedOutSince(firstLevelHash: Self.flh(UInt8($0 + 10))) == Int64($0) })
            }
        }
    }
}
