import GRDB
import GRDBSQLite
import Testing
@testable import UIDStore

/// `StoreValue.bind(to:at:)` stores what GRDB's `StatementArguments` stored for the same values,
/// including the edge cases where a null pointer would silently bind NULL.
@Suite struct StoreValueBindingTests {
    /// The row SQLite stored for `values`: each column's type and value as SQLite reports them.
    func stored(_ values: [StoreValue]) throws -> [String] {
        let queue = try DatabaseQueue()
        return try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (v)")
            let statement = try db.makeStatement(sql: "INSERT INTO t (v) VALUES (?)")
            for value in values {
                sqlite3_reset(statement.sqliteStatement)
                #expect(value.bind(to: statement.sqliteStatement, at: 1) == SQLITE_OK)
                #expect(sqlite3_step(statement.sqliteStatement) == SQLITE_DONE)
            }
            return try String.fetchAll(db, sql: "SELECT typeof(v) || ':' || quote(v) FROM t ORDER BY rowid")
        }
    }

    /// What GRDB's own binding stores for the same values, for comparison.
    func storedByGRDB(_ values: [StoreValue]) throws -> [String] {
        let queue = try DatabaseQueue()
        return try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (v)")
            for value in values {
                try db.execute(sql: "INSERT INTO t (v) VALUES (?)", arguments: SQLiteStore.arguments([value]))
            }
            return try String.fetchAll(db, sql: "SELECT typeof(v) || ':' || quote(v) FROM t ORDER BY rowid")
        }
    }

    @Test func everyKindOfValueIsStoredAsGRDBStoredIt() throws {
        let values: [StoreValue] = [
            .int32(7), .int32(Int32.min), .int64(Int64.max), .int64(-1),
            .text("salt+/="), .text(""), .text("é✓"),
            .utf8(Array("IlMMgAaDlRqhElxGCmpN849ZWMXReXbwJUXurgyyAoQ=".utf8)), .utf8([]),
            .utf8([0x61, 0xFF, 0x62]),  // invalid UTF-8 is repaired, as `String(decoding:)` does
            .blob([0, 1, 2, 0xFF]), .blob([]),
            .int32(nil), .int64(nil), .text(nil), .utf8(nil), .blob(nil),
        ]
        let ours = try stored(values)
        #expect(ours == (try storedByGRDB(values)))
        #expect(ours[5] == "text:''")
        #expect(ours[9] == "text:'a\u{FFFD}b'")
        #expect(ours[11] == "blob:X''")
        #expect(ours[12] == "null:NULL")
    }
}
