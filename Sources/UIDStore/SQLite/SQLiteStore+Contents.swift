import Foundation
import GRDB
import UIDOperatorCore
import UIDProtocol

/// Reading the store whole, and the runtime settings.
extension SQLiteStore {
    public func isEmpty() throws -> Bool {
        try pool.read { db in try Int.fetchOne(db, sql: StoreSQL.saltTableCount) == 0 }
    }

    public func loadContents() throws -> StoreContents {
        try pool.read { db in try Self.contents(db, includingSalts: true, includingOptOuts: true) }
    }

    static func contents(_ db: Database, includingSalts: Bool, includingOptOuts: Bool) throws -> StoreContents {
        StoreContents(
            sites: try fetch(Site.self, db), clients: try fetch(ClientKey.self, db), keysets: try fetch(Keyset.self, db),
            // `id` is the rowid: keys come back in id order.
            keys: try fetch(KeysetKey.self, db, "ORDER BY rowid"),
            salts: includingSalts ? try loadSalts(db) : SaltTable(firstLevelSalt: [], idPrefix: "", idSecret: ""),
            optOuts: includingOptOuts ? try loadOptOuts(db) : OptOutIndex(), keypairs: try fetch(ClientSideKeypair.self, db)
        )
    }

    public func runtimeSettings() async throws -> RuntimeSettings {
        try await pool.read { db in try Self.runtimeSettings(db) }
    }

    public func setRuntimeSettings(_ settings: RuntimeSettings) async throws {
        let json = try RuntimeSettingsDocument.encode(settings)
        try await pool.write { db in try db.execute(sql: StoreSQL.setRuntimeSettings(.sqlite), arguments: [json]) }
    }

    static func runtimeSettings(_ db: Database) throws -> RuntimeSettings {
        try RuntimeSettingsDocument.decode(try String.fetchOne(db, sql: StoreSQL.runtimeSettings))
    }
}
