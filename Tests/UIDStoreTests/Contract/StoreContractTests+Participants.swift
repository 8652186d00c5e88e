import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDStore

/// Sites, clients and client-side key pairs.
extension StoreContractTests {
    @Test(arguments: StoreBackend.available)
    func clientsAreAddedAndUpdated(_ backend: StoreBackend) async throws {
        try await backend.withStore { store, _ async throws in
            let (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 8)
            try await store.initialize(with: contents)

            let made = InitialDataset.newClient(scope: .uid2, environment: .test, siteID: 999, roles: [.mapper], name: "Mapper", nowSeconds: Self.start / 1000)
            var client = made.0
            let credentials = made.1
            client.serviceID = 7
            try await store.addClient(client)
            let added = try #require(try await store.loadConfiguration().clients.first { $0.keyID == credentials.keyID })
            #expect(added.keyHash == client.keyHash && added.keySalt == client.keySalt && added.secret == client.secret)
            #expect(added.roles == [.mapper] && added.serviceID == 7 && added.createdSeconds == client.createdSeconds && !added.disabled)
            #expect(APIKeyHasher.hash(key: credentials.apiKey, salt: added.keySalt) == added.keyHash)

            var updated = client
            updated.name = "Renamed"
            updated.contact = "ops@example.com"
            updated.disabled = true
            updated.roles = [.mapper, .sharer]
            updated.secret = APIKeyHasher.randomBytes(32)
            try await store.updateClient(updated)
            let stored = try #require(try await store.loadConfiguration().clients.first { $0.keyID == credentials.keyID })
            #expect(stored.name == "Renamed" && stored.contact == "ops@example.com" && stored.disabled && stored.roles == [.mapper, .sharer])
            #expect(stored.secret == updated.secret, "a rotated secret is stored")
            #expect(stored.keyHash == client.keyHash && stored.siteID == 999)
            let all = try await store.loadConfiguration().clients
            #expect(Set(all.map(\.keyID)) == Set(contents.clients.map(\.keyID) + [credentials.keyID]))
            #expect(all.filter(\.disabled).map(\.keyID) == [credentials.keyID], "other clients untouched")
        }
    }

    @Test(arguments: StoreBackend.available)
    func sitesGetTheNextKeysetAndKeyIDsAndAreUpdated(_ backend: StoreBackend) async throws {
        try await backend.withStore { store, _ async throws in
            let (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 8)
            try await store.initialize(with: contents)

            try await store.addSite(Site(id: 1000, name: "New site", createdSeconds: 5)) { keysetID, keyID in
                #expect(keysetID == 4 && keyID == 5)
                return (InitialDataset.siteKeyset(siteID: 1000, keysetID: keysetID, nowSeconds: 5),
                        InitialDataset.newKey(id: keyID, keysetID: keysetID, nowSeconds: 5))
            }
            let renamed = Site(id: 1000, name: "Renamed site", enabled: false, domainNames: ["a.example"], appNames: ["app"], createdSeconds: 5)
            try await store.updateSite(renamed)
            let sites = try await store.loadSites()
            #expect(sites.first { $0.id == 1000 } == renamed)
            #expect(sites.first { $0.id == 999 } == contents.sites[0], "other sites untouched")

            let configuration = try await store.loadConfiguration()
            #expect(configuration.keysets.first { $0.id == 4 } == InitialDataset.siteKeyset(siteID: 1000, keysetID: 4, nowSeconds: 5))
            #expect(configuration.keys.first { $0.id == 5 }?.keysetID == 4)

            try await store.addSite(Site(id: 1001, name: "Third")) { keysetID, keyID in
                #expect(keysetID == 5 && keyID == 6, "the sequences continue")
                return (InitialDataset.siteKeyset(siteID: 1001, keysetID: keysetID, nowSeconds: 5),
                        InitialDataset.newKey(id: keyID, keysetID: keysetID, nowSeconds: 5))
            }
            #expect(try await store.loadSites().map(\.id).sorted() == [999, 1000, 1001])
        }
    }

    @Test(arguments: StoreBackend.available)
    func keypairsAreAddedAndDisabled(_ backend: StoreBackend) async throws {
        try await backend.withStore { store, _ async throws in
            let (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 8)
            try await store.initialize(with: contents)
            var keypair = ClientSideKeypair.generate(siteID: 999, scope: .uid2, environment: .test, nowSeconds: 7)
            keypair.contact = "cstg@example.com"
            keypair.name = "Web"
            try await store.addKeypair(keypair)
            let other = ClientSideKeypair.generate(siteID: 999, scope: .uid2, environment: .test, nowSeconds: 8)
            try await store.addKeypair(other)

            #expect(try await store.setKeypairDisabled(subscriptionID: keypair.subscriptionID, disabled: true))
            #expect(try await !store.setKeypairDisabled(subscriptionID: "no-such-id", disabled: true))
            var keypairs = try await store.loadConfiguration().keypairs
            let stored = try #require(keypairs.first { $0.subscriptionID == keypair.subscriptionID })
            #expect(stored.disabled && stored.privateKeyText == keypair.privateKeyText && stored.publicKeyText == keypair.publicKeyText)
            #expect(stored.contact == "cstg@example.com" && stored.name == "Web" && stored.siteID == 999 && stored.createdSeconds == 7)
            #expect(keypairs.first { $0.subscriptionID == other.subscriptionID }?.disabled == false, "other key pairs untouched")

            #expect(try await store.setKeypairDisabled(subscriptionID: keypair.subscriptionID, disabled: false))
            keypairs = try await store.loadConfiguration().keypairs
            #expect(keypairs.count == 2 && keypairs.allSatisfy { !$0.disabled })
        }
    }
}
