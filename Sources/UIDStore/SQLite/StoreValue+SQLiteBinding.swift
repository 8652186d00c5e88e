import GRDB
import GRDBSQLite

/// Binds a value straight to a prepared SQLite statement.
///
/// Bulk inserts bind through SQLite's C API: building GRDB's `StatementArguments` for each row (an
/// array of boxed values, each string and blob copied into a new `String` or `Data`) was half the
/// time of seeding a new store's million salt buckets.
extension StoreValue {
    /// SQLite copies what it is given (`SQLITE_TRANSIENT`), so the bytes need not outlive the call.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// SQLite's result code for binding `self` as parameter `index` (1-based).
    func bind(to statement: SQLiteStatement, at index: Int32) -> Int32 {
        switch self {
        case .int32(let value?): return sqlite3_bind_int64(statement, index, Int64(value))
        case .int64(let value?): return sqlite3_bind_int64(statement, index, value)
        case .text(var value?): return value.withUTF8 { Self.bind(UnsafeRawBufferPointer($0), asText: true, to: statement, at: index) }
        case .utf8(let bytes?):
            // Stored as TEXT from `String(decoding:as:)`, as GRDB's path did: invalid UTF-8 is
            // repaired, never stored as is. Salts and key material are ASCII, the fast case.
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return StoreValue.text(String(decoding: bytes, as: UTF8.self)).bind(to: statement, at: index) }
            return bytes.withUnsafeBytes { Self.bind($0, asText: true, to: statement, at: index) }
        case .blob(let bytes?): return bytes.withUnsafeBytes { Self.bind($0, asText: false, to: statement, at: index) }
        case .int32(nil), .int64(nil), .text(nil), .utf8(nil), .blob(nil): return sqlite3_bind_null(statement, index)
        }
    }

    private static func bind(_ bytes: UnsafeRawBufferPointer, asText: Bool, to statement: SQLiteStatement, at index: Int32) -> Int32 {
        guard let count = Int32(exactly: bytes.count) else { return SQLITE_TOOBIG }
        // An empty buffer may have no address, and a null pointer would bind NULL, not an empty value.
        guard let base = bytes.baseAddress, count > 0 else {
            return asText ? sqlite3_bind_text(statement, index, "", 0, transient) : sqlite3_bind_zeroblob(statement, index, 0)
        }
        return asText
            ? sqlite3_bind_text(statement, index, base.assumingMemoryBound(to: CChar.self), count, transient)
            : sqlite3_bind_blob(statement, index, base, count, transient)
    }
}
