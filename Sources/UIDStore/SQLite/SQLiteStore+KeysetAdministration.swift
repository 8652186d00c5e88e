import GRDB
import UIDProtocol

/// Keyset and key administration (`keyset enable|disable|allowed-sites`, `keys remove`). The
/// version triggers on both tables make every node rebuild its snapshot after a change.
extension SQLiteStore {
    public func setKeysetEnabled(keysetID: Int32, enabled: Bool) throws -> Bool {
        try changes(StoreSQL.setKeysetEnabled(.sqlite), [enabled, keysetID])
    }

    public func setKeysetAllowedSites(keysetID: Int32, allowedSites: [Int32]?) throws -> Bool {
        try changes(StoreSQL.setKeysetAllowedSites(.sqlite), [allowedSites.map(JSONList.encode), keysetID])
    }

    public func removeKey(id: Int32) throws -> Bool {
        try changes(StoreSQL.removeKey(.sqlite), [id])
    }

    /// Runs one statement; true when it changed a row.
    private func changes(_ sql: String, _ arguments: StatementArguments) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: sql, arguments: arguments)
            return db.changesCount > 0
        }
    }
}
