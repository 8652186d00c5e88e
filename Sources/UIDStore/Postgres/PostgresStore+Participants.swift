import Foundation
import PostgresNIO
import UIDOperatorCore
import UIDProtocol

/// Sites, clients and client-side key pairs.
extension PostgresStore {
    public func loadSites() async throws -> [Site] {
        try await withConnection { connection in try await self.fetch(Site.self, connection) }
    }

    public func addSite(_ site: Site, makeKeyset: (_ keysetID: Int32, _ keyID: Int32) -> (Keyset, KeysetKey)) async throws {
        try await transaction { connection in
            try await self.lock(.keys, connection)
            let keysetID = try await self.value(Int32.self, PostgresQuery(unsafeSQL: StoreSQL.nextKeysetID(.postgres)), connection) ?? 3
            let keyID = try await self.value(Int32.self, PostgresQuery(unsafeSQL: StoreSQL.nextKeyID), connection) ?? 1
            let (keyset, key) = makeKeyset(keysetID, keyID)
            try await self.insert(site, connection)
            try await self.insert(keyset, connection)
            try await self.insert(key, connection)
        }
    }

    public func updateSite(_ site: Site) async throws {
        try await withConnection { connection in try await self.update(site, connection) }
    }

    public func addClient(_ client: ClientKey) async throws {
        try await withConnection { connection in try await self.insert(client, connection) }
    }

    public func updateClient(_ client: ClientKey) async throws {
        try await withConnection { connection in try await self.update(client, connection) }
    }

    public func addKeypair(_ keypair: ClientSideKeypair) async throws {
        try await withConnection { connection in try await self.insert(keypair, connection) }
    }

    public func setKeypairDisabled(subscriptionID: String, disabled: Bool) async throws -> Bool {
        let query = PostgresQuery(unsafeSQL: "\(StoreTable.keypairs.update(.postgres)) RETURNING 1", binds: try Self.binds([.flag(disabled), .text(subscriptionID)]))
        return try await withConnection { connection in try await !self.rows(query, connection).isEmpty }
    }
}
