import Foundation
import Logging
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDStore
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

    @Test func saltRunsGoToTheOverlayWhichIsFoldedOnceLarge() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fold-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SQLiteStore(path: path)
        _ = try await StoreBootstrap.seedIfEmpty(store, scope: .uid2, environment: .test, nowMillis: Self.seededAt, bucketCount: 600)
        let state = try await store.loadState(includingSalts: true, includingOptOuts: true)
        let holder = SnapshotHolder(try OperatorSnapshot(config: OperatorConfig(), contents: state.contents))
        var sync = StoreSync(
            store: store, holder: holder, status: SyncStatus(), interval: .milliseconds(10), logger: Logger(label: "test"),
            initialVersion: state.version, initialWatermark: state.optOutWatermark, configuration: { _ in OperatorConfig() }
        )
        sync.changedSaltBucketLimit = 30
        var progress = StoreSync.Progress(version: state.version, watermark: state.optOutWatermark)
        var folds = 0
        for day in Int64(1)...8 {
            let now = Self.seededAt + day * SaltSchedule.dayMillis
            let outcome = try #require(try await store.rotateSalts(
                nowMillis: now, dueBeforeMillis: SaltSchedule.dueBeforeMillis(nowMillis: now), skipIfRunSinceMillis: SaltSchedule.dayStart(now)
            ) { candidates, total in
                var generator = SystemRandomNumberGenerator()
                return SaltSchedule(fractionPerDay: 0.02).plan(candidates: candidates, totalBuckets: total, nowMillis: now, using: &generator)
            })
            #expect(outcome.changedAnything, "day \(day): a 30th of the table is due every day")
            // An opt-out recorded meanwhile must survive both the reload and the fold.
            let flh = [UInt8](repeating: UInt8(day), count: 32)
            holder.update { $0.addingOptOut(firstLevelHash: flh, advertisingID: nil, optedOutSinceSeconds: now / 1000) }
            try await sync.poll(&progress)

            let held = holder.current.salts
            let stored = try store.loadContents().salts
            #expect(held.count == stored.count && (0..<stored.count).allSatisfy { held[$0] == stored[$0] }, "day \(day): served salts as stored")
            #expect(held.changedBucketCount <= 30, "day \(day): \(held.changedBucketCount) changed buckets left in the overlay")
            if held.changedBucketCount == 0 { folds += 1 }
            #expect(holder.current.optedOutSince(firstLevelHash: flh) != nil, "day \(day): the opt-out is kept")
        }
        #expect(folds >= 2, "the overlay was folded more than once")
    }

    @Test func aFoldOfSaltsTheNodeNoLongerServesIsNotAdopted() throws {
        var (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.seededAt, bucketCount: 64)
        var changed = contents.salts[3]
        changed.refreshFromMillis += SaltSchedule.dayMillis
        contents.salts.replace(at: 3, with: changed)
        let source = try OperatorSnapshot(config: OperatorConfig(), contents: contents)
        let folded = source.foldingChangedSalts()
        #expect(folded.changedBucketCount == 0 && folded[3] == changed)

        let adopted = source.adoptingFoldedSalts(folded, from: source)
        #expect(adopted.salts.changedBucketCount == 0 && adopted.salts[3] == changed)

        // A reload came first: its salts stay, whatever the fold built.
        changed.refreshFromMillis += SaltSchedule.dayMillis
        contents.salts.replace(at: 3, with: changed)
        let reloaded = try OperatorSnapshot(config: OperatorConfig(), contents: contents)
        let kept = reloaded.adoptingFoldedSalts(folded, from: source)
        #expect(kept === reloaded && kept.salts[3] == changed)
    }

    /// A node that keeps serving keeps the image of its opt-out index current: after a fold (and
    /// after a large batch merged on the spot), once enough rows came after the last image, the
    /// store writes the folded index; a restart then starts from it and reads no row twice.
    @Test func foldsRefreshTheOptOutIndexImage() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("image-sync-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/" + SQLiteStore.fileName
        let store = try SQLiteStore(path: path, optOutImageMinimum: 1)
        _ = try await StoreBootstrap.seedIfEmpty(store, scope: .uid2, environment: .test, nowMillis: Self.seededAt, bucketCount: 64)
        var generator: UInt64 = 7
        var recorded: [OptOutRecord] = []
        func importOptOuts(_ count: Int) throws {
            let records = (0..<count).map { _ in
                let bytes = (0..<32).map { _ in
                    generator = generator &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    return UInt8(truncatingIfNeeded: generator >> 33)
                }
                return OptOutRecord(firstLevelHash: bytes, advertisingID: Array(bytes.reversed()), optedOutSinceSeconds: 1_700_000_000)
            }
            #expect(try store.importOptOuts(records) == count)
            recorded += records
        }
        func imagedRow() throws -> Int64? {
            try OptOutImageFile.origin(path: OptOutImageFile.path(forDatabase: path))?.watermark
        }
        try importOptOuts(1_000)
        let state = try await store.loadState(includingSalts: true, includingOptOuts: true)
        store.waitForOptOutImageWrites()
        let first = try #require(try imagedRow())
        let holder = SnapshotHolder(try OperatorSnapshot(config: OperatorConfig(), contents: state.contents))
        let sync = StoreSync(
            store: store, holder: holder, status: SyncStatus(), interval: .milliseconds(10), logger: Logger(label: "test"),
            initialVersion: state.version, initialWatermark: state.optOutWatermark, configuration: { _ in OperatorConfig() }
        )
        var progress = StoreSync.Progress(version: state.version, watermark: state.optOutWatermark)
        func poll() async throws {
            try await sync.poll(&progress)
            store.waitForOptOutImageWrites()
        }
        let due = SQLiteStore.rowsBeforeImageRefresh(first)

        // Folded in the background, but too few rows since the image to write another.
        try importOptOuts(OperatorSnapshot.recentOptOutLimit + 1)
        try await poll()
        #expect(holder.current.recentOptOuts.recordCount == 0, "folded")
        #expect(try imagedRow() == first)

        // The next fold passes the mark: its index is the new image.
        try importOptOuts(Int(due))
        try await poll()
        #expect(progress.watermark - first > due)
        #expect(try imagedRow() == progress.watermark)

        // A batch too large for the overlay is merged on the spot: imaged as well once due.
        let second = progress.watermark
        try importOptOuts(Int(SQLiteStore.rowsBeforeImageRefresh(second)) + 4 * OperatorSnapshot.recentOptOutLimit)
        try await poll()
        #expect(try imagedRow() == progress.watermark && progress.watermark > second)

        let restarted = try SQLiteStore(path: path, optOutImageMinimum: 1)
        let reloaded = try await restarted.loadState(includingSalts: false, includingOptOuts: true)
        #expect(restarted.lastOptOutLoad == OptOutLoadReport(source: .image, rowsAfterImage: 0, imageRefusal: nil))
        #expect(reloaded.contents.optOuts.recordCount == recorded.count)
        for record in recorded {
            #expect(reloaded.contents.optOuts.optedOutSince(firstLevelHash: record.firstLevelHash) == 1_700_000_000)
        }
        restarted.waitForOptOutImageWrites()
    }

}
