import Foundation
import GRDB
import Synchronization
import Testing
@testable import UIDOperatorCore
@testable import UIDStore

/// A node starts from the image of its opt-out index when, and only when, the image holds exactly
/// the store's rows up to its watermark; otherwise it reads every row and writes a new image.
@Suite struct OptOutImageTests {
    /// A store in a new directory that images any index (the default waits for 262,144 records).
    struct Scratch {
        let directory: String
        var database: String { directory + "/" + SQLiteStore.fileName }
        var image: String { OptOutImageFile.path(forDatabase: database) }

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("uidstore-image-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }

        func open() throws -> SQLiteStore { try SQLiteStore(path: database, optOutImageMinimum: 1) }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Deterministic rows: every third without an advertising id, every other id prefixed.
    struct Rows {
        var state: UInt64
        mutating func bytes(_ count: Int) -> [UInt8] {
            (0..<count).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return UInt8(truncatingIfNeeded: state >> 33)
            }
        }

        mutating func records(_ count: Int) -> [OptOutRecord] {
            (0..<count).map { position in
                OptOutRecord(
                    firstLevelHash: bytes(32), advertisingID: position % 3 == 0 ? nil : bytes(32 + position % 2),
                    optedOutSinceSeconds: 1_700_000_000 + Int64(position % 1_000)
                )
            }
        }
    }

    /// A store in `scratch` holding `count` generated records, loaded once (which writes its image).
    static func imaged(_ scratch: Scratch, _ rows: inout Rows, count: Int) async throws -> (store: SQLiteStore, records: [OptOutRecord]) {
        let records = rows.records(count)
        let store = try scratch.open()
        _ = try store.importOptOuts(records)
        _ = try await load(store)
        return (store, records)
    }

    static func load(_ store: SQLiteStore) async throws -> (index: OptOutIndex, report: OptOutLoadReport) {
        let state = try await store.loadState(includingSalts: false, includingOptOuts: true)
        store.waitForOptOutImageWrites()
        return (state.contents.optOuts, try #require(store.lastOptOutLoad))
    }

    /// Every record's answers, on both sides, equal those of an index read from every row.
    static func expectSameAnswers(_ index: OptOutIndex, _ store: SQLiteStore, _ records: [OptOutRecord]) async throws {
        let reference = try await store.readOptOuts(upTo: .max, splitMinimum: .max)
        #expect(index.recordCount == reference.recordCount)
        #expect(index.count == reference.count)
        for record in records {
            #expect(index.optedOutSince(firstLevelHash: record.firstLevelHash) == reference.optedOutSince(firstLevelHash: record.firstLevelHash))
            if let id = record.advertisingID {
                #expect(index.optedOutSince(advertisingID: id) == reference.optedOutSince(advertisingID: id))
                #expect(index.optedOutSince(advertisingID: id) != nil)
            }
        }
    }

    @Test func aStartWritesAnImageAndTheNextStartsFromItAndTheRowsAfterIt() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        var rows = Rows(state: 1)
        var records = rows.records(2_000)
        let store = try scratch.open()
        _ = try store.importOptOuts(records)
        let first = try await Self.load(store)
        #expect(first.report == OptOutLoadReport(source: .rows, rowsAfterImage: 0, imageRefusal: nil))
        let attributes = try FileManager.default.attributesOfItem(atPath: scratch.image)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        let later = rows.records(50)
        for record in later { try await store.recordOptOut(record) }
        // A repeated opt-out (an existing hash with its id) changes no row, so the image still holds.
        try await store.recordOptOut(records[1])
        records += later
        let second = try await Self.load(try scratch.open())
        #expect(second.report == OptOutLoadReport(source: .image, rowsAfterImage: 50, imageRefusal: nil))
        try await Self.expectSameAnswers(second.index, store, records)
    }

    /// An advertising id filled in on a row the image holds: the image no longer matches the row.
    @Test func aRowChangedAfterTheImageRefusesIt() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        var rows = Rows(state: 2)
        var (store, records) = try await Self.imaged(scratch, &rows, count: 600)
        let filled = OptOutRecord(firstLevelHash: records[0].firstLevelHash, advertisingID: rows.bytes(32), optedOutSinceSeconds: records[0].optedOutSinceSeconds)
        #expect(records[0].advertisingID == nil)
        try await store.recordOptOut(filled)
        records[0] = filled
        let reloaded = try await Self.load(try scratch.open())
        #expect(reloaded.report.source == .rows)
        #expect(reloaded.report.imageRefusal?.contains("other rows") == true)
        #expect(reloaded.index.optedOutSince(advertisingID: try #require(filled.advertisingID)) == filled.optedOutSinceSeconds)
        try await Self.expectSameAnswers(reloaded.index, store, records)
        // The image written after that read holds the change.
        #expect(try await Self.load(try scratch.open()).report.source == .image)

        try await store.pool.write { db in try db.execute(sql: "DELETE FROM optouts WHERE id = 5") }
        #expect(try await Self.load(try scratch.open()).report.source == .rows, "a deleted row refuses it too")
    }

    @Test func aDamagedImageIsRefusedAndReplaced() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        var rows = Rows(state: 3)
        let (store, records) = try await Self.imaged(scratch, &rows, count: 1_500)
        var image = try [UInt8](Data(contentsOf: URL(fileURLWithPath: scratch.image)))
        image[image.count / 2] ^= 0x01
        try Data(image).write(to: URL(fileURLWithPath: scratch.image))
        let reloaded = try await Self.load(try scratch.open())
        #expect(reloaded.report.source == .rows)
        #expect(reloaded.report.imageRefusal?.contains("checksum") == true)
        try await Self.expectSameAnswers(reloaded.index, store, records)
        #expect(try await Self.load(try scratch.open()).report.source == .image, "replaced by a good one")

        try Data(image.prefix(100)).write(to: URL(fileURLWithPath: scratch.image))
        #expect(try await Self.load(try scratch.open()).report.source == .rows, "a cut file is refused")
    }

    /// Another store's image, and this store put back to an older copy of itself and grown past
    /// the image again (same ids, other rows): both refused.
    @Test func anImageOfOtherRowsIsRefused() async throws {
        let scratch = try Scratch(), other = try Scratch()
        defer { scratch.remove(); other.remove() }
        var rows = Rows(state: 4)
        var backup = Data()
        do {
            // Closed at the end of this block, before its file is replaced.
            let store = try scratch.open()
            _ = try store.importOptOuts(rows.records(500))
            _ = try await store.pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
            backup = try Data(contentsOf: URL(fileURLWithPath: scratch.database))
            _ = try store.importOptOuts(rows.records(300))
            _ = try await Self.load(store)
        }

        let stranger = try other.open()
        _ = try stranger.importOptOuts(rows.records(800))
        try FileManager.default.copyItem(atPath: scratch.image, toPath: other.image)
        #expect(try await Self.load(stranger).report.imageRefusal?.contains("other rows") == true)

        // The older copy, with its WAL and shared memory gone, then 400 other rows on top.
        try? FileManager.default.removeItem(atPath: scratch.database + "-wal")
        try? FileManager.default.removeItem(atPath: scratch.database + "-shm")
        try backup.write(to: URL(fileURLWithPath: scratch.database))
        let restored = try scratch.open()
        let newer = rows.records(400)
        _ = try restored.importOptOuts(newer)
        let reloaded = try await Self.load(restored)
        #expect(reloaded.report.source == .rows)
        #expect(reloaded.report.imageRefusal?.contains("other rows") == true)
        try await Self.expectSameAnswers(reloaded.index, restored, newer)
    }

    /// The origin is read before the digests are checked: a watermark of Int64.min or Int64.max
    /// there is refused, never subtracted or counted from.
    @Test func anImageWithAnImpossibleWatermarkIsRefused() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        var rows = Rows(state: 6)
        let (store, records) = try await Self.imaged(scratch, &rows, count: 300)
        let image = try [UInt8](Data(contentsOf: URL(fileURLWithPath: scratch.image)))
        // The origin follows the 128-byte header: nonce (16), rewrites (8), then the watermark.
        let watermarkOffset = OptOutIndexImage.headerBytes + 24
        for impossible in [Int64.min, -1, Int64.max] {
            var damaged = image
            withUnsafeBytes(of: impossible.littleEndian) { damaged.replaceSubrange(watermarkOffset..<(watermarkOffset + 8), with: $0) }
            try Data(damaged).write(to: URL(fileURLWithPath: scratch.image))
            let reloaded = try await Self.load(try SQLiteStore(path: scratch.database, optOutImageMinimum: 1_000_000))
            #expect(reloaded.report.source == .rows, "watermark \(impossible)")
            #expect(reloaded.report.imageRefusal != nil, "watermark \(impossible)")
            try await Self.expectSameAnswers(reloaded.index, store, records)
        }
    }

    @Test func noImageIsKeptWhenTurnedOffOrBelowTheMinimum() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        var rows = Rows(state: 5)
        let off = try SQLiteStore(path: scratch.database, optOutImageMinimum: nil)
        _ = try off.importOptOuts(rows.records(100))
        _ = try await Self.load(off)
        #expect(!FileManager.default.fileExists(atPath: scratch.image))
        _ = try await Self.load(try SQLiteStore(path: scratch.database, optOutImageMinimum: 101))
        #expect(!FileManager.default.fileExists(atPath: scratch.image))
        _ = try await Self.load(try SQLiteStore(path: scratch.database, optOutImageMinimum: 100))
        #expect(FileManager.default.fileExists(atPath: scratch.image))
    }

    @Test func rowsAfterAnImageAreAddedOnlyUpToALimit() {
        #expect(SQLiteStore.rowsAfterImageLimit(1_000) == 65_536)
        #expect(SQLiteStore.rowsAfterImageLimit(10_000_000) == 312_500)
        #expect(SQLiteStore.rowsBeforeImageRefresh(1_000) == 16_384)
        #expect(SQLiteStore.rowsBeforeImageRefresh(10_000_000) == 78_125)
    }

    /// What a serving node does after a fold: the folded index of every row so far, and the outcome
    /// of the write it started (nil when none was due).
    static func refresh(_ store: SQLiteStore, upTo watermark: Int64) async throws -> OptOutImageOutcome? {
        let index = try await store.readOptOuts(upTo: watermark, splitMinimum: .max)
        let outcome = Mutex<OptOutImageOutcome?>(nil)
        store.refreshOptOutImage(index, upTo: watermark) { result in outcome.withLock { $0 = result } }
        store.waitForOptOutImageWrites()
        return outcome.withLock { $0 }
    }

    static func imagedWatermark(_ scratch: Scratch) throws -> Int64? {
        try OptOutImageFile.origin(path: scratch.image)?.watermark
    }

    /// A node that keeps running takes a new image once a quarter of what a start accepts after
    /// one was recorded since, so its next start reads few rows; not before, and not of rows changed
    /// after it read them.
    @Test func aServingNodeRefreshesItsImageOnceEnoughRowsCameAfterIt() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        var rows = Rows(state: 6)
        var (store, records) = try await Self.imaged(scratch, &rows, count: 1_000)
        #expect(try Self.imagedWatermark(scratch) == 1_000)
        let later = rows.records(Int(SQLiteStore.rowsBeforeImageRefresh(1_000)) + 10)
        _ = try store.importOptOuts(later)
        records += later
        let newest = Int64(records.count)

        // One row short of due: nothing written.
        #expect(try await Self.refresh(store, upTo: 1_000 + SQLiteStore.rowsBeforeImageRefresh(1_000) - 1) == nil)
        #expect(try Self.imagedWatermark(scratch) == 1_000)
        let written = try await Self.refresh(store, upTo: newest)
        guard case .written(let path, _)? = written else {
            Issue.record("no image written: \(String(describing: written))")
            return
        }
        #expect(path == scratch.image)
        #expect(try Self.imagedWatermark(scratch) == newest)
        // Just written: the next is due only after as many rows again.
        #expect(try await Self.refresh(store, upTo: newest) == nil)

        let restarted = try await Self.load(try scratch.open())
        #expect(restarted.report == OptOutLoadReport(source: .image, rowsAfterImage: 0, imageRefusal: nil))
        try await Self.expectSameAnswers(restarted.index, store, records)

        // A row changed after the node's load: the node's index may lack the change, so no image.
        let node = try scratch.open()
        _ = try await Self.load(node)
        let filled = try #require(records.firstIndex { $0.advertisingID == nil })
        try await node.recordOptOut(OptOutRecord(
            firstLevelHash: records[filled].firstLevelHash, advertisingID: rows.bytes(32), optedOutSinceSeconds: records[filled].optedOutSinceSeconds
        ))
        _ = try node.importOptOuts(rows.records(Int(SQLiteStore.rowsBeforeImageRefresh(newest))))
        let watermark = try #require(try await node.pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM optouts") })
        let refused = try await Self.refresh(node, upTo: watermark)
        #expect(refused == .skipped("opt-out rows were changed or deleted after this node read them"))
        #expect(try Self.imagedWatermark(scratch) == newest)
    }
}
