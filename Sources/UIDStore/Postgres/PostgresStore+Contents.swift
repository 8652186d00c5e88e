import Foundation
import PostgresNIO
import UIDOperatorCore
import UIDProtocol

/// Reading the store whole, and the runtime settings.
extension PostgresStore {
    public func isEmpty() async throws -> Bool {
        try await withConnection { connection in
            try await self.value(Int64.self, PostgresQuery(unsafeSQL: StoreSQL.saltTableCount), connection) == 0
        }
    }

    public func loadContents() async throws -> StoreContents {
        try await readTransaction { connection in
            try await self.contents(connection, includingSalts: true, includingOptOuts: true)
        }
    }

    func contents(_ connection: PostgresConnection, includingSalts: Bool, includingOptOuts: Bool) async throws -> StoreContents {
        StoreContents(
            sites: try await fetch(Site.self, connection), clients: try await fetch(ClientKey.self, connection),
            keysets: try await fetch(Keyset.self, connection), keys: try await fetch(KeysetKey.self, connection, "ORDER BY id"),
            salts: includingSalts ? try await loadSalts(connection) : SaltTable(firstLevelSalt: [], idPrefix: "", idSecret: ""),
            optOuts: includingOptOuts ? try await loadOptOuts(connection) : OptOutIndex(),
            keypairs: try await fetch(ClientSideKeypair.self, connection)
        )
    }

    public func runtimeSettings() async throws -> RuntimeSettings {
        try await withConnection { connection in try await self.runtimeSettings(connection) }
    }

    func runtimeSettings(_ connection: PostgresConnection) async throws -> RuntimeSettings {
        try RuntimeSettingsDocument.decode(try await value(String.self, PostgresQuery(unsafeSQL: StoreSQL.runtimeSettings), connection))
    }

    public func setRuntimeSettings(_ settings: RuntimeSettings) async throws {
        let json = try RuntimeSettingsDocument.encode(settings)
        try await withConnection { connection in
            try await self.execute(StoreSQL.setRuntimeSettings(.postgres), [.text(json)], connection)
        }
    }
}
