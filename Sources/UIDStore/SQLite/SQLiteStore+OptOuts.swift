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
    /// GRDB's `Row` and `Data` took 40 s where the scan takes 2), and the two lookup tables, each
    /// bound by cache misses, are built on two connections at once.
    func loadOptOuts(upTo watermark: Int64) async throws -> OptOutIndex {
        let count = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM optouts WHERE id <= ?", arguments: [watermark]) ?? 0 }
        async let byFirstLevelHash = pool.read { db in
            var index = OptOutIndex(minimumCapacityByFirstLevelHash: count, byAdvertisingID: 0)
            try Self.scanOptOuts(db, column: "flh", upTo: watermark) { key, seconds in
                index.insert(firstLevelHash: key, optedOutSinceSeconds: seconds)
            }
            return index
        }
        async let byAdvertisingID = pool.read { db in
            var index = OptOutIndex(minimumCapacityByFirstLevelHash: 0, byAdvertisingID: count)
            try Self.scanOptOuts(db, column: "advertising_id", upTo: watermark) { key, seconds in
                index.insert(advertisingID: key, optedOutSinceSeconds: seconds)
            }
            return index
        }
        return OptOutIndex(firstLevelHashesOf: try await byFirstLevelHash, advertisingIDsOf: try await byAdvertisingID)
    }

    /// The synchronous path (administration commands): one connection, one pass.
    static func loadOptOuts(_ db: Database) throws -> OptOutIndex {
        let count = try Int.fetchOne(db, sql: StoreSQL.optOutCount) ?? 0
        var flh = OptOutIndex(minimumCapacityByFirstLevelHash: count, byAdvertisingID: 0)
        var advertising = OptOutIndex(minimumCapacityByFirstLevelHash: 0, byAdvertisingID: count)
        try scanOptOuts(db, column: "flh", upTo: .max) { flh.insert(firstLevelHash: $0, optedOutSinceSeconds: $1) }
        try scanOptOuts(db, column: "advertising_id", upTo: .max) { advertising.insert(advertisingID: $0, optedOutSinceSeconds: $1) }
        return OptOutIndex(firstLevelHashesOf: flh, advertisingIDsOf: advertising)
    }

    private static func scanOptOuts(
        _ db: Database, column: String, upTo watermark: Int64, _ body: (UnsafeRawBufferPointer, Int64) -> Void
    ) throws {
        let statement = try db.makeStatement(sql: "SELECT \(column), opted_out_since FROM optouts WHERE id <= ? AND \(column) IS NOT NULL")
        statement.setUncheckedArguments([watermark])
        let sqlite = statement.sqliteStatement
        defer { sqlite3_reset(sqlite) }
        while true {
            let step = sqlite3_step(sqlite)
            if step == SQLITE_DONE { return }
            guard step == SQLITE_ROW else { throw DatabaseError(resultCode: ResultCode(rawValue: step), message: "reading opt-outs") }
            body(UnsafeRawBufferPointer(start: sqlite3_column_blob(sqlite, 0), count: Int(sqlite3_column_bytes(sqlite, 0))), sqlite3_column_int64(sqlite, 1))
        }
    }
}
