import Foundation
import GRDB
import GRDBSQLite
import UIDOperatorCore
import UIDProtocol

/// Opt-outs: recording one, reading the index, and the latest records.
extension SQLiteStore {
    /// Runs on GRDB's writer queue, not the caller's thread; returns once SQLite has committed with
    /// `synchronous = FULL`. An FLH already present keeps its row; only a missing advertising id is filled in.
    public func recordOptOut(_ record: OptOutRecord) async throws {
        let row = OptOutRow(record, recordedMillis: StoreClock.nowMillis())
        try await pool.write { db in
            try db.execute(
                sql: "\(OptOutRow.table.insert(.sqlite)) ON CONFLICT(flh) DO UPDATE SET advertising_id = COALESCE(optouts.advertising_id, excluded.advertising_id)",
                arguments: Self.arguments(row.storeValues)
            )
        }
    }

    public func optOutCount() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: StoreSQL.optOutCount) ?? 0 }
    }

    public func recentOptOuts(limit: Int) throws -> [OptOutRecord] {
        try pool.read { db in try Self.fetch(OptOutRow.self, db, "ORDER BY id DESC LIMIT ?", arguments: [limit]).map(\.record) }
    }

    /// Ten million rows are read with SQLite's column accessors in place (decoding each through
    /// GRDB's `Row` and `Data` took 40 s where the scan takes 2), counted first so the index's
    /// arrays are sized once, and sorted into the flat table in one pass at the end.
    ///
    /// A large table is read in two halves of its ids at once, each on its own connection and
    /// thread, into its own part of the index's arrays (`OptOutIndex.build(partCapacities:read:)`):
    /// the scan is most of a start, and one core would otherwise wait for it. Each half is one
    /// read transaction of its own. That is as consistent as one: rows are only ever appended
    /// (and an advertising id filled in, which any later read may see too), so every transaction
    /// begun after `watermark` was read sees every row up to it, as the single scan's does.
    /// The ids bound each half's rows (each id is one row), and the halves are used only when
    /// the ids run without gaps to within the row count, so the arrays are never larger than
    /// the rows read (rows missing from a half leave its room unused and the parts are closed up).
    ///
    /// A node starts from the image of its index kept beside the database when one matches the
    /// rows (`restoreOptOutImage`); after reading every row, it writes a new one in the background.
    func loadOptOuts(upTo watermark: Int64, splitMinimum: Int = SQLiteStore.optOutSplitMinimum) async throws -> OptOutIndex {
        // Counted before any row is read: an image written later holds only what this load and
        // the rows after it saw, so it is written only while this count is unchanged.
        let rewrites = try await pool.read { db in try Self.rewriteCount(db) }
        let restored = await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: self.restoreOptOutImage(upTo: watermark)) }
        }
        if let (index, imagedWatermark) = restored.restored {
            optOutImageTrack.withLock { $0 = OptOutImageTrack(rewrites: rewrites, imagedWatermark: imagedWatermark) }
            return index
        }
        let index = try await readOptOuts(upTo: watermark, splitMinimum: splitMinimum)
        optOutLoadReports.withLock { $0 = OptOutLoadReport(source: .rows, rowsAfterImage: 0, imageRefusal: restored.refusal) }
        optOutImageTrack.withLock { $0 = OptOutImageTrack(rewrites: rewrites, imagedWatermark: nil) }
        writeOptOutImageInBackground(index, upTo: watermark)
        return index
    }

    /// Every row up to `watermark`, read and sorted.
    func readOptOuts(upTo watermark: Int64, splitMinimum: Int) async throws -> OptOutIndex {
        let (count, lowest) = try await pool.read { db in
            (try Int.fetchOne(db, sql: StoreSQL.optOutCount) ?? 0, try Int64.fetchOne(db, sql: "SELECT MIN(id) FROM optouts") ?? 1)
        }
        guard let halves = Self.idHalves(count: count, lowest: lowest, watermark: watermark, minimum: splitMinimum) else {
            return try await pool.read { db in try Self.loadOptOuts(db, upTo: watermark) }
        }
        let pool = self.pool
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(with: Result {
                    try OptOutIndex.build(partCapacities: halves.map(\.count)) { part, appender in
                        guard part < halves.count else { return }
                        try pool.read { db in
                            try Self.scanOptOuts(db, ids: halves[part]) { hash, id, seconds in
                                appender.append(firstLevelHash: hash, advertisingID: id, optedOutSinceSeconds: seconds)
                            }
                        }
                    }
                })
            }
        }
    }

    /// Below this many rows one connection reads them all.
    static let optOutSplitMinimum = 1 << 20

    /// The ids from `lowest` to `watermark` in two halves, or nil when one scan should read them:
    /// a small table, or ids with more gaps than `count` leaves room for.
    static func idHalves(count: Int, lowest: Int64, watermark: Int64, minimum: Int) -> [ClosedRange<Int64>]? {
        guard count >= max(minimum, 2), lowest >= 0, watermark > lowest else { return nil }
        let (span, overflow) = (watermark - lowest).addingReportingOverflow(1)
        guard !overflow, span <= Int64(count) else { return nil }
        let middle = lowest + span / 2
        return [lowest...(middle - 1), middle...watermark]
    }

    /// The synchronous path (administration commands): the same, on the caller's connection.
    static func loadOptOuts(_ db: Database) throws -> OptOutIndex {
        try loadOptOuts(db, upTo: .max)
    }

    private static func loadOptOuts(_ db: Database, upTo watermark: Int64) throws -> OptOutIndex {
        // All rows, not those up to the watermark: SQLite counts them on the index of hashes
        // (a third of the table's pages; a range of ids would walk the whole table). Rows are only
        // appended, so this is at least the rows read below, and any excess is a few spare slots.
        let count = try Int.fetchOne(db, sql: StoreSQL.optOutCount) ?? 0
        var builder = OptOutIndex.Builder(capacity: count)
        try scanOptOuts(db, ids: Int64.min...watermark) { hash, id, seconds in
            builder.append(firstLevelHash: hash, advertisingID: id, optedOutSinceSeconds: seconds)
            return true
        }
        return builder.build()
    }

    /// The rows with ids in `ids`, in id order, each handed over in place (valid during the
    /// call); stops early when `row` returns false.
    static func scanOptOuts(
        _ db: Database, ids: ClosedRange<Int64>,
        row: (UnsafeRawBufferPointer?, UnsafeRawBufferPointer?, Int64) -> Bool
    ) throws {
        let statement = try db.makeStatement(sql: "SELECT flh, advertising_id, opted_out_since FROM optouts WHERE id BETWEEN ? AND ?")
        statement.setUncheckedArguments([ids.lowerBound, ids.upperBound])
        let sqlite = statement.sqliteStatement
        defer { sqlite3_reset(sqlite) }
        while true {
            let step = sqlite3_step(sqlite)
            if step == SQLITE_DONE { break }
            guard step == SQLITE_ROW else { throw DatabaseError(resultCode: ResultCode(rawValue: step), message: "reading opt-outs") }
            guard row(blob(sqlite, column: 0), blob(sqlite, column: 1), sqlite3_column_int64(sqlite, 2)) else { break }
        }
    }

    /// A BLOB column read in place (valid until the next step); nil for NULL and for an empty
    /// value, which SQLite both gives as a null pointer (neither is a key). Not asking for the
    /// column's type first saves a call a column: ten million rows spent 4 % of a start there.
    private static func blob(_ sqlite: SQLiteStatement, column: Int32) -> UnsafeRawBufferPointer? {
        guard let bytes = sqlite3_column_blob(sqlite, column) else { return nil }
        let length = Int(sqlite3_column_bytes(sqlite, column))
        return UnsafeRawBufferPointer(start: bytes, count: max(length, 0))
    }
}
