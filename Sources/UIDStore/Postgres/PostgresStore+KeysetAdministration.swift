import PostgresNIO
import UIDProtocol

/// Keyset and key administration (`keyset enable|disable|allowed-sites`, `keys remove`); the
/// version triggers make every node rebuild its snapshot after a change.
extension PostgresStore {
    public func setKeysetEnabled(keysetID: Int32, enabled: Bool) async throws -> Bool {
        try await changes(StoreSQL.setKeysetEnabled(.postgres), [.flag(enabled), .int32(keysetID)])
    }

    public func setKeysetAllowedSites(keysetID: Int32, allowedSites: [Int32]?) async throws -> Bool {
        try await changes(StoreSQL.setKeysetAllowedSites(.postgres), [.text(allowedSites.map(JSONList.encode)), .int32(keysetID)])
    }

    /// Under the keys lock, so it cannot interleave with a rotation choosing from the same keys.
    public func removeKey(id: Int32) async throws -> Bool {
        try await transaction { connection in
            try await self.lock(.keys, connection)
            return try await self.changedRows(StoreSQL.removeKey(.postgres), [.int32(id)], connection)
        }
    }

    private func changes(_ sql: String, _ values: [StoreValue]) async throws -> Bool {
        try await withConnection { connection in try await self.changedRows(sql, values, connection) }
    }

    /// Runs one statement; true when it changed a row.
    private func changedRows(_ sql: String, _ values: [StoreValue], _ connection: PostgresConnection) async throws -> Bool {
        let query = PostgresQuery(unsafeSQL: sql + " RETURNING 1", binds: try Self.binds(values))
        return try await !rows(query, connection).isEmpty
    }
}
