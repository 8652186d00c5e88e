import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDStore

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

    @Test func saltKeyMaterialAndOptOutsRoundTrip() async throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SQLiteStore(directory: URL(fileURLWithPath: path))
        var (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: 1_750_000_000_000, bucketCount: 3)
        var salts = SaltTable(firstLevelSalt: contents.salts.firstLevelSalt, idPrefix: "b", idSecret: "s")
        let material = SaltKeyMaterial(id: 2_100_002, key: Array("key12345key12345key12345key12340".utf8), salt: Array("salt1234salt1234salt1234salt1230".utf8))
        salts.append(SaltTable.Entry(id: 1, lastUpdatedMillis: 5, refreshFromMillis: 6, currentSalt: nil, previousSalt: Array("old".utf8), currentKey: material))
        salts.append(SaltTable.Entry(id: 2, lastUpdatedMillis: 7, refreshFromMillis: 8, currentSalt: Array("cur".utf8)))
        contents.salts = salts
        try store.initialize(with: contents)
        let flh = [UInt8](repeating: 9, count: 32)
        let uid = [UInt8](repeating: 4, count: 33)
        try await store.recordOptOut(OptOutRecord(firstLevelHash: flh, advertisingID: uid, optedOutSinceSeconds: 100))
        try await store.recordOptOut(OptOutRecord(firstLevelHash: flh, advertisingID: nil, optedOutSinceSeconds: 200))

        let loaded = try SQLiteStore(directory: URL(fileURLWithPath: path)).loadContents()
        #expect(loaded.salts[0] == salts[0] && loaded.salts[1] == salts[1])
        #expect(loaded.optOuts.optedOutSince(firstLevelHash: flh) == 100, "the first opt-out time is kept")
        #expect(loaded.optOuts.count == 1)
        #expect(loaded.optOuts.optedOutSince(advertisingID: uid) == 100)
    }

    /// Processes starting together on one new file: separate handles, opened and seeded at once.
    @Test func handlesOpeningANewFileTogetherSeedItExactlyOnce() async throws {
        for round in 0..<3 {
            let path = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: path) }
            let directory = URL(fileURLWithPath: path)
            let results = try await withThrowingTaskGroup(of: (ClientCredentials?, StoreContents).self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        let store = try SQLiteStore(directory: directory)
                        let credentials = try await StoreBootstrap.seedIfEmpty(store, scope: .uid2, environment: .test, nowMillis: 1_750_000_000_000,
                                                                               bucketCount: 3_000)
                        return (credentials, try store.loadContents())
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.compactMap(\.0).count == 1, "round \(round): exactly one seeds")
            let reference = results[0].1
            for (_, contents) in results {
                #expect(contents.salts.count == 3_000 && (0..<3_000).allSatisfy { contents.salts[$0] == reference.salts[$0] })
                #expect(contents.clients.map(\.keyID) == reference.clients.map(\.keyID) && contents.clients.count == 1)
            }
        }
    }

    @Test func updatesThatChangeNothingBumpNoVersion() async throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SQLiteStore(directory: URL(fileURLWithPath: path))
        let seeded = try #require(try await StoreBootstrap.seedIfEmpty(store, scope: .uid2, environment: .test, nowMillis: 1_750_000_000_000, bucketCount: 30))
        var last = try await store.version()
        func expectChange(configuration: Bool, salts: Bool, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let now = try await store.version()
            #expect((now.configuration != last.configuration) == configuration, "configuration after \(what)", sourceLocation: sourceLocation)
            #expect((now.salts != last.salts) == salts, "salts after \(what)", sourceLocation: sourceLocation)
            last = now
        }
        var client = try #require(try store.loadContents().clients.first { $0.keyID == seeded.keyID })
        try store.updateClient(client)
        try await expectChange(configuration: false, salts: false, "updateClient with nothing changed")
        client.disabled = true
        try store.updateClient(client)
        try await expectChange(configuration: true, salts: false, "disabling a client")
        try store.updateClient(client)
        try await expectChange(configuration: false, salts: false, "disabling it again")
        var site = try #require(try store.loadSites().first)
        try store.updateSite(site)
        try await expectChange(configuration: false, salts: false, "updateSite with nothing changed")
        site.domainNames = ["example.com"]
        try store.updateSite(site)
        try await expectChange(configuration: true, salts: false, "updateSite")
        var settings = RuntimeSettings()
        settings.identityV3 = true
        try await store.setRuntimeSettings(settings)
        try await expectChange(configuration: true, salts: false, "setRuntimeSettings")
        try await store.setRuntimeSettings(settings)
        try await expectChange(configuration: false, salts: false, "the same settings again")

        let runAt: Int64 = 1_750_000_000_000 + 2 * SaltSchedule.dayMillis
        func run(_ nowMillis: Int64, dueBefore: Int64) async throws -> SaltRotationOutcome? {
            try await store.rotateSalts(nowMillis: nowMillis, dueBeforeMillis: dueBefore, skipIfRunSinceMillis: SaltSchedule.dayStart(nowMillis)) { candidates, total in
                var generator = SystemRandomNumberGenerator()
                return SaltSchedule().plan(candidates: candidates, totalBuckets: total, nowMillis: nowMillis, using: &generator)
            }
        }
        let nothingDue = try #require(try await run(runAt, dueBefore: 0))
        #expect(!nothingDue.changedAnything)
        try await expectChange(configuration: false, salts: false, "a salt run that changed nothing")
        #expect(try await run(runAt + 1, dueBefore: .max) == nil, "one run a day")
        try await expectChange(configuration: false, salts: false, "a skipped salt run")
        let real = try #require(try await run(runAt + SaltSchedule.dayMillis, dueBefore: SaltSchedule.dueBeforeMillis(nowMillis: runAt + SaltSchedule.dayMillis)))
        #expect(real.rotated == 1 && real.rescheduled == 2, "one bucket of 30 falls due per day: three days since seeding")
        try await expectChange(configuration: false, salts: true, "a salt run that moved a bucket")
    }

    @Test func saltChangesPatchATableIntoTheStoredOne() async throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await SaltChangesCheck.run(try SQLiteStore(directory: URL(fileURLWithPath: path)))
    }
}
