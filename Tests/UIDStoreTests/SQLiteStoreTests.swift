import Foundation
import GRDB
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDStore

/// What only the SQLite store does; what every store does is in `StoreContractTests`.
@Suite struct SQLiteStoreTests {
    func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("uidstore-\(UUID().uuidString)").path
    }

    @Test func firstOpenSeedsAndLaterOpensLoadTheSameData() async throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SQLiteStore(directory: URL(fileURLWithPath: path))
        let seeded = try #require(try await StoreBootstrap.seedIfEmpty(store, scope: .euid, environment: .integ, nowMillis: 1_750_000_000_000, bucketCount: 64))
        try StoreBootstrap.writeCredentials(seeded, to: URL(fileURLWithPath: path))
        #expect(seeded.apiKey.hasPrefix("EUID-C-I-999-"))

        let credentialsFile = URL(fileURLWithPath: path).appendingPathComponent(StoreBootstrap.credentialsFileName).path
        let attributes = try FileManager.default.attributesOfItem(atPath: credentialsFile)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let written = try JSONDecoder().decode(ClientCredentials.self, from: Data(contentsOf: URL(fileURLWithPath: credentialsFile)))
        #expect(written == seeded)

        let reopened = try SQLiteStore(directory: URL(fileURLWithPath: path))
        #expect(try await StoreBootstrap.seedIfEmpty(reopened, scope: .euid, environment: .integ, nowMillis: 0) == nil, "an initialized store is not seeded twice")
        let contents = try reopened.loadContents()
        #expect(contents.salts.count == 64)
        #expect(contents.keysets.count == 4 && contents.keys.count == 4)
        #expect(contents.sites.map(\.id) == [999])
        let client = try #require(contents.clients.first)
        #expect(client.roles == Set(Role.clientRoles))
        #expect(APIKeyHasher.hash(key: seeded.apiKey, salt: client.keySalt) == client.keyHash)
        #expect(Base64.encode(client.secret) == seeded.secret)

        let snapshot = try OperatorSnapshot(config: OperatorConfig(scope: .euid), contents: contents)
        #expect(snapshot.clients.client(forAPIKey: seeded.apiKey)?.keyID == seeded.keyID)
        #expect(snapshot.keys.activeMasterKey(atSeconds: 1_750_000_000) != nil)
        #expect(snapshot.keys.activeRefreshKey(atSeconds: 1_750_000_000) != nil)
        #expect(snapshot.keys.activeSiteKey(siteID: 999, atSeconds: 1_750_000_000)?.keysetID == 3)

        // Salts survive the round trip byte for byte.
        let first = try store.loadContents().salts
        for position in [0, 31, 63] {
            #expect(first[position] == contents.salts[position])
            #expect(contents.salts[position].currentSalt?.count == 44)
        }
    }

    /// GRDB's WAL set-up turns `synchronous` to NORMAL, under which a commit is not fsynced: an
    /// acknowledged opt-out would be lost with the machine. Found by the read-only file system test.
    @Test func writesAreFsyncedBeforeTheyReturn() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SQLiteStore(directory: URL(fileURLWithPath: path))
        let mode = try store.pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(mode == 2, "PRAGMA synchronous on the writer is \(String(describing: mode)), not FULL (2)")
    }
}
