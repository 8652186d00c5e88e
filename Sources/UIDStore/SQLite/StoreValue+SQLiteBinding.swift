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
        case .int32(let value?): sqlite3_bind_int64(statement, index, Int64(value))
        case .int64(let value?): sqlite3_bind_int64(statement, index, value)
        case .text(let value?): Self.bindText(Array(value.utf8), to: statement, at: index)
        case .utf8(let bytes?):
            // Stored as TEXT from `String(decoding:as:)`, as GRDB's path did: invalid UTF-8 is
            // repaired, never stored as is. Salts and key material are ASCII, the fast case.
            bytes.allSatisfy { $0 < 0x80 }
                ? Self.bindText(bytes, to: statement, at: index)
                : Self.bindText(Array(String(decoding: bytes, as: UTF8.self).utf8), to: statement, at: index)
        case .blob(let bytes?):
            bytes.withUnsafeBytes { buffer in
                guard let count = Int32(exactly: buffer.count) else { return SQLITE_TOOBIG }
                // An empty array may have no address, and a null pointer would bind NULL.
                guard let base = buffer.baseAddress, count > 0 else { return sqlite3_bind_zeroblob(statement, index, 0) }
                return sqlite3_bind_blob(statement, index, base, count, Self.transient)
            }
        case .int32(nil), .int64(nil), .text(nil), .utf8(nil), .blob(nil): sqlite3_bind_null(statement, index)
        }
    }

    private static func bindText(_ bytes: [UInt8], to statement: SQLiteStatement, at index: Int32) -> Int32 {
        guard let count = Int32(exactly: bytes.count) else { return SQLITE_TOOBIG }
        return bytes.withUnsafeBytes { buffer in
            // A null pointer would bind NULL: an empty string is bound from a literal instead.
            guard let base = buffer.baseAddress, count > 0 else { return sqlite3_bind_text(statement, index, "", 0, transient) }
            return sqlite3_bind_text(statement, index, base.assumingMemoryBound(to: CChar.self), count, transient)
        }
    }
}
