import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDStore

/// `setKeysetEnabled`, `setKeysetAllowedSites` and `removeKey`, on both stores: what they write is
/// what the next load reads, a miss answers false, and every real change bumps the configuration
/// version (so running nodes rebuild their snapshot) while the salts version stays put.
struct KeysetAdministrationTests {
    static let start: Int64 = 1_750_000_000_000

    @Test func sqliteStore() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("uidstore-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await Self.exercise(try SQLiteStore(directory: URL(fileURLWithPath: path)))
    }

    @Test(.enabled(if: PostgresTestDatabase.adminURL != nil, "set UID_TEST_POSTGRES_URL (scripts/postgres-for-tests prints one)"))
    func postgresStore() async throws {
        try await PostgresTestDatabase.withStore { store, _ in try await Self.exercise(store) }
    }

    static func exercise(_ store: any OperatorStore) async throws {
        let (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: start, bucketCount: 16)
        try await store.initialize(with: contents)
        let siteKeyset = try #require(contents.keysets.first { $0.siteID == 999 })
        let siteKey = try #require(contents.keys.first { $0.keysetID == siteKeyset.id })
        var version = try await store.version()
        func expectConfigurationChanged(_ changed: Bool, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let now = try await store.version()
            #expect((now.configuration != version.configuration) == changed, "configuration version after \(what)", sourceLocation: sourceLocation)
            #expect(now.salts == version.salts, "salts version after \(what)", sourceLocation: sourceLocation)
            version = now
        }
        func keyset(_ id: Int32) async throws -> Keyset? {
            try await store.loadConfiguration().keysets.first { $0.id == id }
        }

        #expect(try await store.setKeysetEnabled(keysetID: siteKeyset.id, enabled: false))
        #expect(try await keyset(siteKeyset.id)?.enabled == false)
        try await expectConfigurationChanged(true, "disabling a keyset")
        let ring = try KeyRing(keysets: try await store.loadConfiguration().keysets, keys: contents.keys)
        #expect(ring.activeSiteKey(siteID: 999, atSeconds: start / 1000 + 60)?.keysetID == Keyset.fallbackPublisherKeysetID,
                "a site whose default keyset is disabled encrypts under the fallback publisher keyset")
        #expect(try await store.setKeysetEnabled(keysetID: siteKeyset.id, enabled: true))
        #expect(try await keyset(siteKeyset.id)?.enabled == true)
        try await expectConfigurationChanged(true, "enabling it again")
        #expect(try await !store.setKeysetEnabled(keysetID: 4242, enabled: false))
        try await expectConfigurationChanged(false, "disabling a keyset that does not exist")

        for allowed in [[Int32(7), 101], [], nil] as [[Int32]?] {
            #expect(try await store.setKeysetAllowedSites(keysetID: siteKeyset.id, allowedSites: allowed))
            let stored = try #require(try await keyset(siteKeyset.id))
            #expect(stored.allowedSites == allowed, "allowed sites \(String(describing: allowed)) read back as \(String(describing: stored.allowedSites))")
            try await expectConfigurationChanged(true, "allowed sites \(String(describing: allowed))")
        }
        #expect(try await !store.setKeysetAllowedSites(keysetID: 4242, allowedSites: [1]))
        try await expectConfigurationChanged(false, "allowed sites of a keyset that does not exist")

        #expect(try await store.removeKey(id: siteKey.id))
        let keys = try await store.loadConfiguration().keys
        #expect(!keys.contains { $0.id == siteKey.id })
        #expect(keys.count == contents.keys.count - 1, "only that key is removed")
        try await expectConfigurationChanged(true, "removing a key")
        #expect(try await !store.removeKey(id: siteKey.id))
        try await expectConfigurationChanged(false, "removing it again")
    }
}
