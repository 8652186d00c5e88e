import Foundation
import GRDB
import UIDOperatorCore
import UIDProtocol

/// Sites, clients and client-side key pairs.
extension SQLiteStore {
    public func loadSites() throws -> [Site] {
        try pool.read { db in try Self.fetch(Site.self, db) }
    }

    public func addSite(_ site: Site, makeKeyset: (_ keysetID: Int32, _ keyID: Int32) -> (Keyset, KeysetKey)) throws {
        try pool.write { db in
            let keysetID = try Int32.fetchOne(db, sql: StoreSQL.nextKeysetID(.sqlite)) ?? 3
            let keyID = try Int32.fetchOne(db, sql: StoreSQL.nextKeyID) ?? 1
            let (keyset, key) = makeKeyset(keysetID, keyID)
            try Self.insert(site, db)
            try Self.insert(keyset, db)
            try Self.insert(key, db)
        }
    }

    public func updateSite(_ site: Site) throws {
        try pool.write { db in try Self.update(site, db) }
    }

    public func addClient(_ client: ClientKey) throws {
        try pool.write { db in try Self.insert(client, db) }
    }

    public func updateClient(_ client: ClientKey) throws {
        try pool.write { db in try Self.update(client, db) }
    }

    public func addKeypair(_ keypair: ClientSideKeypair) throws {
        try pool.write { db in try Self.insert(keypair, db) }
    }

    public func setKeypairDisabled(subscriptionID: String, disabled: Bool) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: StoreTable.keypairs.update(.sqlite), arguments: Self.arguments([.flag(disabled), .text(subscriptionID)]))
            return db.changesCount > 0
        }
    }
}
