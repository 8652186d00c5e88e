import GRDB
import UIDProtocol

/// Keyset and key administration (`keyset enable|disable|allowed-sites`, `keys remove`). The
/// version triggers on both tables make every node rebuild its snapshot after a change.
extension SQLiteStore {
    public func setKeysetEnabled(keysetID: Int32, enabled: Bool) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: "UPDATE keysets SET enabled = ? WHERE keyset_id = ?", arguments: [enabled, keysetID])
            return db.changesCount > 0
        }
    }

    public func setKeysetAllowedSites(keysetID: Int32, allowedSites: [Int32]?) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: "UPDATE keysets SET allowed_sites = ? WHERE keyset_id = ?",
                           arguments: [allowedSites.map(Self.jsonArray), keysetID])
            return db.changesCount > 0
        }
    }

    public func removeKey(id: Int32) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM keyset_keys WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }
}
