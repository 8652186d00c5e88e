import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol

@Suite struct AuthenticationTests {
    struct FixtureClient: Decodable {
        let key: String
        let key_hash: String
        let key_salt: String
        let key_id: String
        let site_id: Int32
    }

    /// The reference's fixture clients carry plaintext keys beside their hashes: our hashing must
    /// reproduce every one, so clients created by the reference's tooling authenticate here.
    @Test func reproducesTheReferenceFixtureKeyHashes() throws {
        let url = Fixtures.sharedDirectory.appendingPathComponent("fixtures/uid2-core/com.uid2.core/test/clients/clients.json")
        let fixtures = try JSONDecoder().decode([FixtureClient].self, from: Data(contentsOf: url))
        #expect(fixtures.count == 8)
        let clients = fixtures.map { fixture in
            ClientKey(keyID: fixture.key_id, keyHash: Base64.decode(fixture.key_hash)!, keySalt: Base64.decode(fixture.key_salt)!,
                      secret: [UInt8](repeating: 1, count: 32), name: fixture.key_id, contact: "", siteID: fixture.site_id,
                      roles: [.generator], disabled: false, createdSeconds: 0)!
        }
        let directory = ClientDirectory(clients)
        for fixture in fixtures {
            #expect(APIKeyHasher.hash(key: fixture.key, salt: Base64.decode(fixture.key_salt)!) == Base64.decode(fixture.key_hash)!)
            #expect(directory.client(forAPIKey: fixture.key)?.keyID == fixture.key_id)
        }
        #expect(directory.client(forAPIKey: "UID2-C-L-999-fCXrMM.fsR3mDqAXELtWWMS+xG1s7RdgRTMqdOH2qaAo") == nil)
        #expect(directory.client(forAPIKey: "") == nil)
    }

    @Test func generatedKeysAuthenticateAndCarryTheirPrefix() throws {
        let (snapshot, client) = try Fixtures.snapshot()
        let (_, credentials) = InitialDataset.newClient(scope: .euid, environment: .prod, siteID: 1234, roles: [.mapper], name: "x", nowSeconds: 0)
        #expect(credentials.apiKey.hasPrefix("EUID-C-P-1234-"))
        #expect(credentials.keyID == String(credentials.apiKey.prefix(while: { $0 != "." }).dropLast()))
        #expect(snapshot.clients.client(forAPIKey: credentials.apiKey) == nil, "not in this snapshot")
        #expect(client.roles == Set(Role.clientRoles))
    }

    @Test func rolesParseCaseInsensitivelyAndUnknownsAreKept() {
        #expect(Role(parsing: "generator") == .generator)
        #expect(Role(parsing: "OPTOUT_CHECKER") == .unknown)
    }

    @Test func lifetimeOrderingIsEnforced() {
        #expect(throws: Never.self) { try TokenLifetimes.privateOperatorDefaults.validate() }
        #expect(throws: TokenLifetimes.OrderingViolation.self) {
            try TokenLifetimes(identityTokenExpiresAfterSeconds: 100, refreshTokenExpiresAfterSeconds: 50, refreshIdentityTokenAfterSeconds: 10).validate()
        }
        #expect(throws: TokenLifetimes.OrderingViolation.self) {
            try TokenLifetimes(identityTokenExpiresAfterSeconds: 100, refreshTokenExpiresAfterSeconds: 500, refreshIdentityTokenAfterSeconds: 200).validate()
        }
    }
}
