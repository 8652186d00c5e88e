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
    func loadOptOuts(upTo watermark: Int64) async throws -> OptOutIndex {
        try await pool.read { db in try Self.loadOptOuts(db, upTo: watermark) }
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
        let statement = try db.makeStatement(sql: "SELECT flh, advertising_id, opted_out_since FROM optouts WHERE id <= ?")
        statement.setUncheckedArguments([watermark])
        let sqlite = statement.sqliteStatement
        defer { sqlite3_reset(sqlite) }
        while true {
            let step = sqlite3_step(sqlite)
            if step == SQLITE_DONE { break }
            guard step == SQLITE_ROW else { throw DatabaseError(resultCode: ResultCode(rawValue: step), message: "reading opt-outs") }
            builder.append(
                firstLevelHash: blob(sqlite, column: 0), advertisingID: blob(sqlite, column: 1),
                optedOutSinceSeconds: sqlite3_column_int64(sqlite, 2)
            )
        }
        return builder.build()
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
