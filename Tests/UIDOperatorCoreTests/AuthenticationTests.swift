import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol

@Suite struct AuthenticationTests {
    /// Clients of the reference operator's test data set (IABTechLab/uid2-operator,
    /// `src/test/resources/com.uid2.core/test/clients/clients.json`), which lists each plaintext key
    /// beside its salt and hash: (key, key_salt, key_hash, key_id, site_id).
    static let referenceClients: [(key: String, salt: String, hash: String, keyID: String, siteID: Int32)] = [
        ("UID2-C-L-999-fCXrMM.fsR3mDqAXELtWWMS+xG1s7RdgRTMqdOH2qaAo=", "RvCHAXUo/1pR3Nun5HuzcRJvlC7vT6gZMmsGPzyOONA=",
         "FIUDeEqA+O2hW7PXdAJI/NAnJleHX+6QU46avhal5Wy4th0ZEKvG5eoFk8CFvqxGkMFlHwGG+DWTU+ZdwiHdQg==", "UID2-C-L-999-fCXrM", 999),
        ("LOCALbGlvbnVuZGVybGluZXdpbmRzY2FyZWRzb2Z0ZGVzZXI=", "qu7v8UJYxb7GzidkHZJHGNRJJv6G9408bvOri19egxk=",
         "LXybcNSAhhAc2ZGbhJYpQWNfcrKdSmlxDmGKaga3WNp7ReQepxv6zpRKN/o/rIl9BzGCtI+dkfDjjxDPBFuPYQ==", "LOCALbGlvb", 999),
        ("UID2-C-L-123-t32pCM.5NCX1E94UgOd2f8zhsKmxzCoyhXohHYSSWR8U=", "8iu6RPZK4o48+/CoiHdWRqcJ/mpAm1lF/d0fzddJkNw=",
         "e057FyhI7c9XrpV6f/CP76ngW3riDLy8EaYtNetGO6UZTDKqqkEFyvOY0F39UtsL5p+X1m9cub17nLJNUzrt3g==", "UID2-C-L-123-t32pC", 123),
        ("UID2-C-L-127-aHVydH.JlZnVzZWRmYXN0ZW5lbXliYWdpZGVudGl0eWU=", "v00XLTnO3/kS/zzHEkOcBo2QWTDtb4j9wFxU4G8Eu8Q=",
         "EsTnXmois+IXfkOVK6YPkFos5o3OO5O6cErZ0gab1SOA4gWK1a9XH1Ht2gCuQ+CxGYqsLszBLJZRVnl2b2eRAQ==", "UID2-C-L-127-aHVyd", 127),
    ]

    /// Our hashing must reproduce the reference's, so clients created by its tooling authenticate here.
    @Test func reproducesTheReferenceKeyHashes() throws {
        var clients: [ClientKey] = []
        for reference in Self.referenceClients {
            let salt = try #require(Base64.decode(reference.salt))
            let hash = try #require(Base64.decode(reference.hash))
            #expect(APIKeyHasher.hash(key: reference.key, salt: salt) == hash, "\(reference.keyID)")
            clients.append(try #require(ClientKey(
                keyID: reference.keyID, keyHash: hash, keySalt: salt, secret: [UInt8](repeating: 1, count: 32), name: reference.keyID,
                contact: "", siteID: reference.siteID, roles: [.generator], disabled: false, createdSeconds: 0
            )))
        }
        let directory = ClientDirectory(clients)
        for reference in Self.referenceClients {
            #expect(directory.client(forAPIKey: reference.key)?.keyID == reference.keyID)
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

    @Test func disabledClientsAndClientsOfDisabledSitesAreNotAuthorized() throws {
        var (contents, credentials) = Fixtures.contents()
        let (other, otherCredentials) = InitialDataset.newClient(scope: .uid2, environment: .test, siteID: 1234, roles: [.mapper], name: "o", nowSeconds: 0)
        contents.clients.append(other)
        let enabled = try OperatorSnapshot(config: OperatorConfig(), contents: contents)
        #expect(enabled.authorizedClient(apiKey: credentials.apiKey, roles: [.generator])?.keyID == credentials.keyID)
        #expect(enabled.authorizedClient(apiKey: credentials.apiKey, roles: [.optout, .mapper]) != nil)
        #expect(enabled.authorizedClient(apiKey: otherCredentials.apiKey, roles: [.generator]) == nil, "lacks the role")
        #expect(enabled.authorizedClient(apiKey: otherCredentials.apiKey, roles: [.mapper]) != nil, "a site the store does not list counts as enabled")

        contents.sites = contents.sites.map { var site = $0; site.enabled = site.id != Fixtures.siteID; return site }
        let siteDisabled = try OperatorSnapshot(config: OperatorConfig(), contents: contents)
        #expect(!siteDisabled.isSiteEnabled(Fixtures.siteID))
        #expect(siteDisabled.authorizedClient(apiKey: credentials.apiKey, roles: [.generator]) == nil)
        #expect(siteDisabled.authorizedClient(apiKey: otherCredentials.apiKey, roles: [.mapper]) != nil, "other sites are untouched")

        contents.sites = contents.sites.map { var site = $0; site.enabled = true; return site }
        contents.clients[0].disabled = true
        let clientDisabled = try OperatorSnapshot(config: OperatorConfig(), contents: contents)
        #expect(clientDisabled.authorizedClient(apiKey: credentials.apiKey, roles: [.generator]) == nil)
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
