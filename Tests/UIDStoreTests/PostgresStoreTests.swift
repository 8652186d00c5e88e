import Foundation
import Logging
import PostgresNIO
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDStore

/// Needs a PostgreSQL server: `export UID_TEST_POSTGRES_URL="$(scripts/postgres-for-tests)"`. The
/// URL's role must be allowed to create databases: every test gets a fresh database, dropped after.
/// Serialized so that the timings printed by the million-bucket test mean something.
@Suite(.enabled(if: PostgresTestDatabase.adminURL != nil, "set UID_TEST_POSTGRES_URL (scripts/postgres-for-tests prints one)"), .serialized)
struct PostgresStoreTests {
    static let start: Int64 = 1_750_000_000_000

    // MARK: - Contents

    @Test func initializeAndLoadContentsRoundTrip() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            #expect(try await store.isEmpty())
            var (contents, credentials) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 64)
            var salts = contents.salts
            let material = SaltKeyMaterial(id: 2_100_002, key: Array("key12345key12345key12345key12340".utf8), salt: Array("salt1234salt1234salt1234salt1230".utf8))
            salts.append(SaltTable.Entry(id: 65, lastUpdatedMillis: 5, refreshFromMillis: 6, currentSalt: nil, previousSalt: Array("old".utf8),
                                         currentKey: material, previousKey: material))
            salts.append(SaltTable.Entry(id: 66, lastUpdatedMillis: 7, refreshFromMillis: 8, currentSalt: Array("cur".utf8)))
            contents.salts = salts
            contents.keypairs = [ClientSideKeypair.generate(siteID: 999, scope: .uid2, environment: .test, nowSeconds: Self.start / 1000)]
            contents.sites[0].domainNames = ["example.com", "example.org"]
            contents.sites[0].appNames = ["com.example.app"]
            try await store.initialize(with: contents)
            #expect(try await !store.isEmpty())
            await #expect(throws: StoreError.self, "a second initialize is refused") { try await store.initialize(with: contents) }

            let loaded = try await store.loadContents()
            try expectSameConfiguration(loaded, contents)
            #expect(loaded.salts.count == 66)
            #expect(loaded.salts.firstLevelSalt == contents.salts.firstLevelSalt)
            #expect(loaded.salts.idPrefix == contents.salts.idPrefix && loaded.salts.idSecret == contents.salts.idSecret)
            for position in 0..<66 { #expect(loaded.salts[position] == contents.salts[position], "bucket \(position)") }
            #expect(loaded.salts[0].currentSalt?.count == 44)
            #expect(loaded.optOuts.count == 0)

            let client = try #require(loaded.clients.first)
            #expect(client.roles == Set(Role.clientRoles))
            #expect(APIKeyHasher.hash(key: credentials.apiKey, salt: client.keySalt) == client.keyHash)
            let snapshot = try OperatorSnapshot(config: OperatorConfig(), contents: loaded)
            #expect(snapshot.clients.client(forAPIKey: credentials.apiKey)?.keyID == credentials.keyID)
            #expect(snapshot.keys.activeSiteKey(siteID: 999, atSeconds: Self.start / 1000)?.keysetID == 3)

            // Stored as SQLite stores them: JSON text, booleans 0/1, base64 secrets.
            let row = try await PostgresTestDatabase.query(store, "SELECT roles, disabled::text FROM clients")
            #expect(row == ["[\"GENERATOR\",\"ID_READER\",\"MAINTAINER\",\"MAPPER\",\"OPTOUT\",\"SHARER\"]", "0"])

            let state = try await store.loadState(includingSalts: false, includingOptOuts: false)
            #expect(state.contents.salts.count == 0 && state.contents.clients.count == 1)
            #expect(state.version == (try await store.version()))
            #expect(state.optOutWatermark == 0)
            let withSalts = try await store.loadState(includingSalts: true, includingOptOuts: true)
            #expect(withSalts.contents.salts.count == 66)
        }
    }

    @Test func millionBucketsInitializeAndLoadInSeconds() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            let (contents, _) = InitialDataset.generate(scope: .euid, environment: .integ, nowMillis: Self.start, bucketCount: 1 << 20)
            let clock = ContinuousClock()
            let initialize = try await clock.measure { try await store.initialize(with: contents) }
            var loaded: StoreContents?
            let load = try await clock.measure { loaded = try await store.loadContents() }
            var state: StoreState?
            let loadState = try await clock.measure { state = try await store.loadState(includingSalts: true, includingOptOuts: true) }
            print("PostgresStore, 1,048,576 salt buckets: initialize \(initialize), loadContents \(load), loadState \(loadState)")
            let salts = try #require(loaded?.salts)
            #expect(salts.count == 1 << 20)
            #expect(state?.contents.salts.count == 1 << 20)
            for position in [0, 1, 4_095, 65_535, 524_288, (1 << 20) - 1] {
                #expect(salts[position] == contents.salts[position], "bucket \(position)")
            }
        }
    }

    // MARK: - Configuration changes

    @Test func clientsSitesAndKeypairs() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            let (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 8)
            try await store.initialize(with: contents)

            // A client.
            let (client, credentials) = InitialDataset.newClient(scope: .uid2, environment: .test, siteID: 999, roles: [.mapper], name: "Mapper",
                                                                 nowSeconds: Self.start / 1000)
            try await store.addClient(client)
            var updated = client
            updated.name = "Renamed"
            updated.contact = "ops@example.com"
            updated.disabled = true
            updated.roles = [.mapper, .sharer]
            try await store.updateClient(updated)
            let clients = try await store.loadContents().clients
            let stored = try #require(clients.first { $0.keyID == credentials.keyID })
            #expect(stored.name == "Renamed" && stored.contact == "ops@example.com" && stored.disabled && stored.roles == [.mapper, .sharer])
            #expect(stored.secret == client.secret && stored.keyHash == client.keyHash)

            // A site gets the next keyset and key ids, allocated in the store.
            try await store.addSite(Site(id: 1000, name: "New site", createdSeconds: 5)) { keysetID, keyID in
                #expect(keysetID == 4 && keyID == 5)
                return (InitialDataset.siteKeyset(siteID: 1000, keysetID: keysetID, nowSeconds: 5),
                        InitialDataset.newKey(id: keyID, keysetID: keysetID, nowSeconds: 5))
            }
            try await store.updateSite(Site(id: 1000, name: "Renamed site", enabled: false, domainNames: ["a.example"], appNames: ["app"], createdSeconds: 5))
            let site = try #require(try await store.loadSites().first { $0.id == 1000 })
            #expect(site == Site(id: 1000, name: "Renamed site", enabled: false, domainNames: ["a.example"], appNames: ["app"], createdSeconds: 5))

            // Key pairs.
            let keypair = ClientSideKeypair.generate(siteID: 1000, scope: .uid2, environment: .test, nowSeconds: 7)
            try await store.addKeypair(keypair)
            #expect(try await store.setKeypairDisabled(subscriptionID: keypair.subscriptionID, disabled: true))
            #expect(try await !store.setKeypairDisabled(subscriptionID: "no-such-id", disabled: true))
            let keypairs = try await store.loadContents().keypairs
            #expect(keypairs.count == 1 && keypairs[0].disabled && keypairs[0].privateKeyText == keypair.privateKeyText)

            // Manual key rotation: a new key, older keys of the keyset expire no later than asked.
            let key = try await store.rotateKey(keysetID: 4, expireOthersAt: 1_000) { id in
                InitialDataset.newKey(id: id, keysetID: 4, nowSeconds: 10)
            }
            #expect(key.id == 6)
            let keys = try await store.loadContents().keys
            #expect(keys.map(\.id) == [1, 2, 3, 4, 5, 6])
            #expect(keys.first { $0.id == 5 }?.expiresSeconds == 1_000)
            #expect(keys.first { $0.id == 6 }?.expiresSeconds == KeyExpiry.default.expiresSeconds(keysetID: 4, activatesSeconds: 10), "the new key keeps its own expiry")
            #expect(keys.first { $0.id == 4 }!.expiresSeconds > 1_000, "other keysets untouched")
            await #expect(throws: StoreError.self) {
                _ = try await store.rotateKey(keysetID: 77, expireOthersAt: nil) { id in InitialDataset.newKey(id: id, keysetID: 77, nowSeconds: 1) }
            }

            // The next site after that continues the sequences.
            try await store.addSite(Site(id: 1001, name: "Third")) { keysetID, keyID in
                #expect(keysetID == 5 && keyID == 7)
                return (InitialDataset.siteKeyset(siteID: 1001, keysetID: keysetID, nowSeconds: 5),
                        InitialDataset.newKey(id: keyID, keysetID: keysetID, nowSeconds: 5))
            }
        }
    }

    @Test func versionsBumpOnEveryKindOfChangeAndSaltsSeparately() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            let (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 16)
            let empty = try await store.version()
            #expect(empty == StoreVersion(configuration: 1, salts: 1))
            try await store.initialize(with: contents)
            var last = try await store.version()
            #expect(last.configuration > 1 && last.salts > 1)

            func expectChange(configuration: Bool, salts: Bool, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
                let now = try await store.version()
                #expect((now.configuration != last.configuration) == configuration, "configuration after \(what)", sourceLocation: sourceLocation)
                #expect((now.salts != last.salts) == salts, "salts after \(what)", sourceLocation: sourceLocation)
                last = now
            }

            let (client, _) = InitialDataset.newClient(scope: .uid2, environment: .test, siteID: 999, roles: [.generator], name: "c", nowSeconds: 1)
            try await store.addClient(client)
            try await expectChange(configuration: true, salts: false, "addClient")
            try await store.updateClient(client)
            try await expectChange(configuration: false, salts: false, "updateClient with nothing changed")
            var renamed = client
            renamed.name = "renamed"
            try await store.updateClient(renamed)
            try await expectChange(configuration: true, salts: false, "updateClient")
            try await store.addSite(Site(id: 5, name: "s")) { keysetID, keyID in
                (InitialDataset.siteKeyset(siteID: 5, keysetID: keysetID, nowSeconds: 1), InitialDataset.newKey(id: keyID, keysetID: keysetID, nowSeconds: 1))
            }
            try await expectChange(configuration: true, salts: false, "addSite")
            try await store.updateSite(Site(id: 5, name: "t"))
            try await expectChange(configuration: true, salts: false, "updateSite")
            try await store.updateSite(Site(id: 5, name: "t"))
            try await expectChange(configuration: false, salts: false, "updateSite with nothing changed")
            let keypair = ClientSideKeypair.generate(siteID: 5, scope: .uid2, environment: .test, nowSeconds: 1)
            try await store.addKeypair(keypair)
            try await expectChange(configuration: true, salts: false, "addKeypair")
            _ = try await store.setKeypairDisabled(subscriptionID: keypair.subscriptionID, disabled: true)
            try await expectChange(configuration: true, salts: false, "setKeypairDisabled")
            _ = try await store.setKeypairDisabled(subscriptionID: keypair.subscriptionID, disabled: true)
            try await expectChange(configuration: false, salts: false, "setKeypairDisabled again")
            var settings = RuntimeSettings()
            settings.identityV3 = true
            try await store.setRuntimeSettings(settings)
            try await expectChange(configuration: true, salts: false, "setRuntimeSettings")
            try await store.setRuntimeSettings(settings)
            try await expectChange(configuration: false, salts: false, "setRuntimeSettings with the same settings")
            _ = try await store.setKeypairDisabled(subscriptionID: "missing", disabled: true)
            try await expectChange(configuration: false, salts: false, "setKeypairDisabled of nothing")
            _ = try await store.rotateKey(keysetID: 3, expireOthersAt: nil) { id in InitialDataset.newKey(id: id, keysetID: 3, nowSeconds: 1) }
            try await expectChange(configuration: true, salts: false, "rotateKey")
            try await store.recordOptOut(OptOutRecord(firstLevelHash: [UInt8](repeating: 1, count: 32), advertisingID: nil, optedOutSinceSeconds: 1))
            try await expectChange(configuration: false, salts: false, "recordOptOut")
            // A salt run that changes buckets bumps the salt version; one that changes none, nothing.
            let runAt = Self.start + 40 * SaltSchedule.dayMillis
            let outcome = try #require(try await store.rotateSalts(nowMillis: runAt, dueBeforeMillis: Int64.max, skipIfRunSinceMillis: nil) { candidates, total in
                var generator = SystemRandomNumberGenerator()
                return SaltSchedule(fractionPerDay: 0.25, minimumAgeDays: 0).plan(candidates: candidates, totalBuckets: total, nowMillis: runAt, using: &generator)
            })
            #expect(outcome.buckets == 16 && outcome.rotated == 3)
            try await expectChange(configuration: false, salts: true, "rotateSalts")
            let rotated = try await store.loadContents().salts
            let changed = (0..<16).filter { rotated[$0].currentSalt != contents.salts[$0].currentSalt }
            #expect(changed.count == 3)
            #expect(changed.allSatisfy { rotated[$0].previousSalt == contents.salts[$0].currentSalt && rotated[$0].lastUpdatedMillis == runAt })
            let nothing = try await store.rotateSalts(nowMillis: runAt + 1, dueBeforeMillis: 0, skipIfRunSinceMillis: nil) { candidates, total in
                var generator = SystemRandomNumberGenerator()
                return SaltSchedule().plan(candidates: candidates, totalBuckets: total, nowMillis: runAt + 1, using: &generator)
            }
            #expect(nothing == SaltRotationOutcome(rotated: 0, rescheduled: 0, previousSaltsDropped: 0, buckets: 16))
            try await expectChange(configuration: false, salts: false, "a salt run that changed nothing")
            let skipped = try await store.rotateSalts(nowMillis: runAt + 2, dueBeforeMillis: Int64.max, skipIfRunSinceMillis: runAt) { _, _ in
                Issue.record("a run already recorded since then: no plan asked for")
                var generator = SystemRandomNumberGenerator()
                return SaltSchedule().plan(candidates: [], totalBuckets: 0, nowMillis: 0, using: &generator)
            }
            #expect(skipped == nil)
            try await store.replaceContents(with: contents)
            try await expectChange(configuration: true, salts: true, "replaceContents")
        }
    }

    // MARK: - Opt-outs

    @Test func optOutsAreFetchedIncrementallyAndKeepTheFirstRecord() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            func flh(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 32) }
            let uid = [UInt8](repeating: 4, count: 33)
            try await store.recordOptOut(OptOutRecord(firstLevelHash: flh(1), advertisingID: nil, optedOutSinceSeconds: 100))
            try await store.recordOptOut(OptOutRecord(firstLevelHash: flh(2), advertisingID: uid, optedOutSinceSeconds: 200))
            try await store.recordOptOut(OptOutRecord(firstLevelHash: flh(3), advertisingID: nil, optedOutSinceSeconds: 300))

            let before = Int64(Date().timeIntervalSince1970 * 1000)
            let first = try await store.optOuts(after: 0)
            #expect(first.records.map(\.record.firstLevelHash) == [flh(1), flh(2), flh(3)])
            #expect(first.records[1].record.advertisingID == uid)
            #expect(first.records.allSatisfy { abs($0.recordedMillis - before) < 60_000 }, "recorded_ms is the recording time")
            #expect(first.watermark == 3)
            #expect(try await store.optOuts(after: first.watermark).records.isEmpty)

            // The same identity again: the first time stays, a missing advertising id is filled in,
            // an existing one is kept, and no new row (nor sequence value) is used.
            try await store.recordOptOut(OptOutRecord(firstLevelHash: flh(1), advertisingID: uid, optedOutSinceSeconds: 999))
            try await store.recordOptOut(OptOutRecord(firstLevelHash: flh(2), advertisingID: [UInt8](repeating: 5, count: 33), optedOutSinceSeconds: 999))
            #expect(try await store.optOutCount() == 3)
            let contents = try await store.loadState(includingSalts: false, includingOptOuts: true).contents
            #expect(contents.optOuts.optedOutSince(firstLevelHash: flh(1)) == 100)
            #expect(contents.optOuts.optedOutSince(advertisingID: uid) == 100)
            let recent = try await store.recentOptOuts(limit: 2)
            #expect(recent.map(\.firstLevelHash) == [flh(3), flh(2)])
            #expect(recent[1].advertisingID == uid)

            try await store.recordOptOut(OptOutRecord(firstLevelHash: flh(4), advertisingID: nil, optedOutSinceSeconds: 400))
            let next = try await store.optOuts(after: first.watermark)
            #expect(next.records.map(\.record.firstLevelHash) == [flh(4)], "the next id follows without a gap, so it is delivered at once")
            #expect(next.watermark == 4)
            #expect(try await store.loadState(includingSalts: false, includingOptOuts: true).optOutWatermark == 4)
        }
    }

    /// The BIGSERIAL subtlety: an id can commit after a higher one was already read.
    @Test func aLateCommittingOptOutIsNotSkipped() async throws {
        try await PostgresTestDatabase.withStore { store, url in
            func flh(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 32) }
            try await store.recordOptOut(OptOutRecord(firstLevelHash: flh(1), advertisingID: nil, optedOutSinceSeconds: 1))
            let watermark = try await store.optOuts(after: 0).watermark
            #expect(watermark == 1)

            // Another writer takes id 2 and has not committed when id 3 commits.
            try await PostgresTestDatabase.withClient(url: url) { other in
                try await other.withConnection { connection in
                    let logger = Logger(label: "test")
                    try await connection.query("BEGIN", logger: logger)
                    try await connection.query("INSERT INTO optouts (flh, opted_out_since, recorded_ms) VALUES (\(Data(flh(2))), 2, 0)", logger: logger)
                    try await store.recordOptOut(OptOutRecord(firstLevelHash: flh(3), advertisingID: nil, optedOutSinceSeconds: 3))

                    let held = try await store.optOuts(after: watermark)
                    #expect(held.records.isEmpty && held.watermark == watermark, "id 3 waits behind the young gap at 2")
                    #expect(try await store.loadState(includingSalts: false, includingOptOuts: true).optOutWatermark == watermark)

                    try await connection.query("COMMIT", logger: logger)
                }
            }
            let batch = try await store.optOuts(after: watermark)
            #expect(batch.records.map(\.record.firstLevelHash) == [flh(2), flh(3)])
            #expect(batch.watermark == 3)

            // A gap that stays (a rolled-back insert) holds later rows back only for the grace period.
            try await PostgresTestDatabase.withClient(url: url) { other in
                try await other.withConnection { connection in
                    let logger = Logger(label: "test")
                    try await connection.query("BEGIN", logger: logger)
                    try await connection.query("INSERT INTO optouts (flh, opted_out_since) VALUES (\(Data(flh(4))), 4)", logger: logger)
                    try await connection.query("ROLLBACK", logger: logger)
                }
            }
            try await store.recordOptOut(OptOutRecord(firstLevelHash: flh(5), advertisingID: nil, optedOutSinceSeconds: 5))
            #expect(try await store.optOuts(after: 3).records.isEmpty)
            try await Task.sleep(for: .milliseconds(PostgresStore.optOutCommitGraceMillis + 500))
            let late = try await store.optOuts(after: 3)
            #expect(late.records.map(\.record.firstLevelHash) == [flh(5)] && late.watermark == 5)
            #expect(try await store.loadState(includingSalts: false, includingOptOuts: false).optOutWatermark == 5)
        }
    }

    @Test func nodesRecordingTheSameOptOutAtOnceKeepOneRow() async throws {
        try await PostgresTestDatabase.withStore { store, url in
            let second = try await PostgresStore.connect(url: url, logger: Logger(label: "node-2"))
            let shared = [UInt8](repeating: 8, count: 32)
            let uid = [UInt8](repeating: 9, count: 33)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<40 {
                    let node = index % 2 == 0 ? store : second
                    group.addTask {
                        // Half without an advertising id: whichever comes first, the id gets filled in.
                        try await node.recordOptOut(OptOutRecord(firstLevelHash: shared, advertisingID: index % 4 == 1 ? uid : nil,
                                                                 optedOutSinceSeconds: Int64(100 + index)))
                        try await node.recordOptOut(OptOutRecord(firstLevelHash: [UInt8](repeating: UInt8(index + 10), count: 32),
                                                                 advertisingID: nil, optedOutSinceSeconds: Int64(index)))
                    }
                }
                try await group.waitForAll()
            }
            await second.shutdown()
            #expect(try await store.optOutCount() == 41)
            let optOuts = try await store.loadState(includingSalts: false, includingOptOuts: true).contents.optOuts
            #expect(optOuts.optedOutSince(advertisingID: uid) != nil)
            // Racing inserts of one FLH may burn sequence values; after the grace every row is delivered.
            try await Task.sleep(for: .milliseconds(PostgresStore.optOutCommitGraceMillis + 500))
            var watermark: Int64 = 0
            var delivered = 0
            while true {
                let batch = try await store.optOuts(after: watermark)
                guard !batch.records.isEmpty else { break }
                delivered += batch.records.count
                watermark = batch.watermark
            }
            #expect(delivered == 41)
        }
    }

    @Test func runtimeSettingsRoundTripAndBumpTheConfigurationVersion() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            #expect(try await store.runtimeSettings() == RuntimeSettings())
            let before = try await store.version()
            var settings = RuntimeSettings()
            settings.identityTokenExpiresAfterSeconds = 7_200
            settings.identityScope = "EUID"
            try await store.setRuntimeSettings(settings)
            #expect(try await store.runtimeSettings() == settings)
            settings.identityV3 = true
            try await store.setRuntimeSettings(settings)
            #expect(try await store.runtimeSettings() == settings)
            let after = try await store.version()
            #expect(after.configuration == before.configuration + 2 && after.salts == before.salts)
            #expect(try await store.loadState(includingSalts: false, includingOptOuts: false).runtimeSettings == settings)
        }
    }

    @Test func replaceContentsKeepsOptOutsAndImportAddsOnlyNewOnes() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            func flh(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 32) }
            let (original, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 32)
            try await store.initialize(with: original)
            try await store.recordOptOut(OptOutRecord(firstLevelHash: flh(1), advertisingID: nil, optedOutSinceSeconds: 10))

            var (replacement, _) = InitialDataset.generate(scope: .euid, environment: .integ, nowMillis: Self.start + 1_000, bucketCount: 48)
            replacement.sites.append(Site(id: 1234, name: "Imported"))
            try await store.replaceContents(with: replacement)
            let loaded = try await store.loadContents()
            try expectSameConfiguration(loaded, replacement)
            #expect(loaded.salts.count == 48)
            #expect((0..<48).allSatisfy { loaded.salts[$0] == replacement.salts[$0] })
            #expect(loaded.optOuts.optedOutSince(firstLevelHash: flh(1)) == 10, "opt-outs stay")
            let updated = try await PostgresTestDatabase.query(store, "SELECT updated::text FROM salt_metadata")
            #expect(updated == ["\(Self.start + 1_000)"])

            let uid = [UInt8](repeating: 7, count: 32)
            let records = [
                OptOutRecord(firstLevelHash: flh(1), advertisingID: uid, optedOutSinceSeconds: 1),  // present: kept as it is
                OptOutRecord(firstLevelHash: flh(2), advertisingID: uid, optedOutSinceSeconds: 20),
                OptOutRecord(firstLevelHash: flh(3), advertisingID: nil, optedOutSinceSeconds: 30),
                OptOutRecord(firstLevelHash: flh(2), advertisingID: nil, optedOutSinceSeconds: 2),  // duplicate: the first wins
            ]
            #expect(try await store.importOptOuts(records) == 2)
            #expect(try await store.importOptOuts(records) == 0, "importing again adds nothing")
            #expect(try await store.importOptOuts([]) == 0)
            await #expect(throws: ImportRecordError.self) {
                try await store.importOptOuts([OptOutRecord(firstLevelHash: [1, 2, 3], advertisingID: nil, optedOutSinceSeconds: 1)])
            }
            let optOuts = try await store.loadContents().optOuts
            #expect(optOuts.count == 3)
            #expect(optOuts.optedOutSince(firstLevelHash: flh(1)) == 10)
            #expect(optOuts.optedOutSince(firstLevelHash: flh(2)) == 20)
            #expect(optOuts.optedOutSince(advertisingID: uid) == 20, "flh(1)'s row was not given the advertising id")
            let batch = try await store.optOuts(after: 1)
            #expect(batch.records.map(\.record.firstLevelHash) == [flh(2), flh(3)], "imported in record order, right after the existing ids")
        }
    }

    // MARK: - Several nodes

    /// Several rounds, to give the race a chance to show.
    @Test func nodesStartingTogetherOnAnEmptyStoreSeedItExactlyOnce() async throws {
        for round in 0..<3 {
            try await PostgresTestDatabase.withDatabase { url in
                let results = try await withThrowingTaskGroup(of: (ClientCredentials?, StoreContents).self) { group in
                    for node in 0..<4 {
                        group.addTask {
                            let store = try await PostgresStore.connect(url: url, logger: Logger(label: "node-\(node)"))
                            let result: Result<(ClientCredentials?, StoreContents), any Error>
                            do {
                                let credentials = try await StoreBootstrap.seedIfEmpty(store, scope: .uid2, environment: .test, nowMillis: Self.start,
                                                                                       bucketCount: 5_000)
                                result = .success((credentials, try await store.loadIdentityData()))
                            } catch {
                                result = .failure(error)
                            }
                            await store.shutdown()
                            return try result.get()
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let seeders = results.compactMap(\.0)
                #expect(seeders.count == 1, "round \(round): exactly one node seeds")
                let reference = results[0].1
                for (_, contents) in results {
                    #expect(contents.salts.count == 5_000 && contents.salts.firstLevelSalt == reference.salts.firstLevelSalt)
                    #expect((0..<5_000).allSatisfy { contents.salts[$0] == reference.salts[$0] }, "round \(round): the same buckets")
                    #expect(contents.clients.map(\.keyID) == reference.clients.map(\.keyID))
                    #expect(contents.clients.map(\.keyID) == seeders.map(\.keyID), "the seeder's client is the one stored")
                    #expect(contents.keys.map(\.id) == reference.keys.map(\.id))
                }
            }
        }
    }

    @Test func saltChangesPatchATableIntoTheStoredOne() async throws {
        try await PostgresTestDatabase.withStore { store, _ in try await SaltChangesCheck.run(store) }
    }

    @Test func oneIdentityResolvesFromItsBucketAsFromTheSnapshot() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            var (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 7)
            var salts = SaltTable(firstLevelSalt: contents.salts.firstLevelSalt, idPrefix: "b", idSecret: "s")
            let material = SaltKeyMaterial(id: 2_100_002, key: Array("key12345key12345key12345key12340".utf8), salt: Array("salt1234salt1234salt1234salt1230".utf8))
            for position in 0..<7 {
                var entry = contents.salts[position]
                if position % 2 == 1 { entry.currentSalt = nil; entry.currentKey = material }
                salts.append(entry)
            }
            contents.salts = salts
            try await store.initialize(with: contents)
            let snapshot = try OperatorSnapshot(config: OperatorConfig(), contents: contents)
            #expect(try await store.saltTableHeader() == SaltTableHeader(firstLevelSalt: salts.firstLevelSalt, idPrefix: "b", idSecret: "s", bucketCount: 7))
            for index in 0..<30 {
                let hash = try #require(IdentityHash(kind: .email, value: "one.\(index)@example.com"))
                let alone = try #require(try await store.resolve(hash))
                let viaSnapshot = snapshot.resolve(hash)
                #expect(alone.firstLevelHash == viaSnapshot.firstLevelHash && alone.bucketIndex == viaSnapshot.bucketIndex)
                #expect(alone.bucket == viaSnapshot.bucket)
                #expect(alone.currentRawUID(options: snapshot.config.rawUIDOptions) == snapshot.currentRawUID(viaSnapshot))
            }
            #expect(try await store.saltBucket(at: 7) == nil)
        }
    }


    @Test func racingNodesRotateEachDueKeyAndTheSaltsOnce() async throws {
        try await PostgresTestDatabase.withStore { store, url in
            var (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 64)
            var salts = SaltTable(firstLevelSalt: contents.salts.firstLevelSalt, idPrefix: "b", idSecret: "s")
            for position in 0..<64 {
                var entry = contents.salts[position]
                entry.refreshFromMillis = Self.start
                salts.append(entry)
            }
            contents.salts = salts
            try await store.initialize(with: contents)

            let later = Self.start + 3 * 86_400_000
            let policy = RotationPolicy()
            let keysetIDs = contents.keysets.map(\.id).sorted()
            let second = try await PostgresStore.connect(url: url, logger: Logger(label: "node-2"))
            let nodes = [store, second]
            let perRun = SaltSchedule.bucketsPerRun(total: 64, fraction: policy.saltFractionPerDay)
            let schedule = policy.saltSchedule

            // Several rounds of both nodes racing, to give the race a chance to show.
            var rotatedKeys = [KeysetKey]()
            var rotatedBuckets = 0
            for round in 0..<3 {
                let results = try await withThrowingTaskGroup(of: ([KeysetKey], Int).self) { group in
                    for node in nodes {
                        group.addTask {
                            let keys = try await node.rotateDueKeys(keysetIDs: keysetIDs) { _, keys in
                                policy.dueRotation(keys: keys, nowSeconds: later / 1000, tokenLifetimeSeconds: 86_400)
                            } makeKey: { id, keysetID, rotation in
                                KeysetKey(id: id, keysetID: keysetID, createdSeconds: later / 1000, activatesSeconds: rotation.activatesSeconds,
                                          expiresSeconds: rotation.expiresSeconds, secret: APIKeyHasher.randomBytes(32))!
                            }
                            let outcome = try await node.rotateSalts(
                                nowMillis: later, dueBeforeMillis: SaltSchedule.dueBeforeMillis(nowMillis: later),
                                skipIfRunSinceMillis: SaltSchedule.dayStart(later)
                            ) { candidates, total in
                                var generator = SystemRandomNumberGenerator()
                                return schedule.plan(candidates: candidates, totalBuckets: total, nowMillis: later, using: &generator)
                            }
                            return (keys, outcome?.rotated ?? 0)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                rotatedKeys += results.flatMap(\.0)
                rotatedBuckets += results.map(\.1).reduce(0, +)
                #expect(rotatedKeys.count == keysetIDs.count, "round \(round)")
            }
            #expect(rotatedBuckets == perRun)
            await second.shutdown()

            let after = try await store.loadContents()
            for keysetID in keysetIDs {
                #expect(after.keys.filter { $0.keysetID == keysetID }.count == 2, "keyset \(keysetID)")
            }
            #expect(Set(after.keys.map(\.id)).count == after.keys.count, "distinct key ids")
            let rotated = (0..<64).filter { after.salts[$0].previousSalt != nil }
            #expect(rotated.count == perRun)
            #expect(rotated.allSatisfy { after.salts[$0].lastUpdatedMillis == later && after.salts[$0].refreshFromMillis > later })
            let snapshot = try OperatorSnapshot(config: OperatorConfig(), contents: after)
            let newMaster = try #require(after.keys.filter { $0.keysetID == Keyset.masterKeysetID }.max { $0.id < $1.id })
            #expect(snapshot.keys.activeMasterKey(atSeconds: newMaster.activatesSeconds)?.id == newMaster.id)
        }
    }

    @Test func nodesStartingTogetherMigrateOnce() async throws {
        try await PostgresTestDatabase.withDatabase { url in
            let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
                for index in 0..<4 {
                    group.addTask { try await PostgresStore.connect(url: url, logger: Logger(label: "node-\(index)")) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(stores.count == 4)
            let applied = try await PostgresTestDatabase.query(stores[0], "SELECT COUNT(*)::text FROM schema_migrations")
            #expect(applied == ["\(PostgresSchema.migrations.count)"])
            #expect(try await stores[1].version() == StoreVersion(configuration: 1, salts: 1))
            for store in stores { await store.shutdown() }
            // And again, on an existing schema.
            let again = try await PostgresStore.connect(url: url, logger: Logger(label: "again"))
            #expect(try await again.isEmpty())
            await again.shutdown()
        }
    }

    @Test func aWrongURLFailsAtOnceWithTheServersReason() async throws {
        let admin = try #require(PostgresTestDatabase.adminURL)
        var components = try #require(URLComponents(string: admin))
        components.path = "/uid_test_no_such_database"
        let url = try #require(components.string)
        let clock = ContinuousClock()
        let start = clock.now
        await #expect {
            let store = try await PostgresStore.connect(url: url, logger: Logger(label: "test"))
            await store.shutdown()
        } throws: { error in
            "\(error)".contains("3D000") && "\(error)".contains("uid_test_no_such_database")
        }
        #expect(clock.now - start < .seconds(10))
    }

    // MARK: - Helpers

    func expectSameConfiguration(_ loaded: StoreContents, _ expected: StoreContents, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(loaded.sites.sorted { $0.id < $1.id } == expected.sites.sorted { $0.id < $1.id }, sourceLocation: sourceLocation)
        #expect(loaded.keysets.sorted { $0.id < $1.id } == expected.keysets.sorted { $0.id < $1.id }, sourceLocation: sourceLocation)
        #expect(loaded.keys.map(\.id) == expected.keys.map(\.id).sorted(), sourceLocation: sourceLocation)
        for key in expected.keys {
            let stored = try #require(loaded.keys.first { $0.id == key.id }, sourceLocation: sourceLocation)
            #expect(stored.keysetID == key.keysetID && stored.secret == key.secret && stored.createdSeconds == key.createdSeconds
                    && stored.activatesSeconds == key.activatesSeconds && stored.expiresSeconds == key.expiresSeconds, sourceLocation: sourceLocation)
        }
        #expect(loaded.clients.count == expected.clients.count, sourceLocation: sourceLocation)
        for client in expected.clients {
            let stored = try #require(loaded.clients.first { $0.keyID == client.keyID }, sourceLocation: sourceLocation)
            #expect(stored.keyHash == client.keyHash && stored.keySalt == client.keySalt && stored.secret == client.secret
                    && stored.name == client.name && stored.contact == client.contact && stored.siteID == client.siteID
                    && stored.roles == client.roles && stored.disabled == client.disabled && stored.serviceID == client.serviceID
                    && stored.createdSeconds == client.createdSeconds, sourceLocation: sourceLocation)
        }
        #expect(loaded.keypairs.map(\.subscriptionID).sorted() == expected.keypairs.map(\.subscriptionID).sorted(), sourceLocation: sourceLocation)
        for keypair in expected.keypairs {
            let stored = try #require(loaded.keypairs.first { $0.subscriptionID == keypair.subscriptionID }, sourceLocation: sourceLocation)
            #expect(stored.publicKeyText == keypair.publicKeyText && stored.privateKeyText == keypair.privateKeyText
                    && stored.siteID == keypair.siteID && stored.disabled == keypair.disabled && stored.createdSeconds == keypair.createdSeconds,
                    sourceLocation: sourceLocation)
        }
    }
}

/// URL handling needs no server.
@Suite struct PostgresStoreURLTests {
    @Test func parsesConnectionURLs() throws {
        let full = try PostgresStore.configuration(url: "postgresql://op%40x:p%3Ass@db.example:6543/uid%20db?sslmode=disable")
        #expect(full.host == "db.example" && full.port == 6543)
        #expect(full.username == "op@x" && full.password == "p:ss" && full.database == "uid db")
        let minimal = try PostgresStore.configuration(url: "postgres://uid@localhost/uid")
        #expect(minimal.port == 5432 && minimal.password == nil && minimal.database == "uid")
        _ = try PostgresStore.configuration(url: "postgres://uid:uid@127.0.0.1/uid?sslmode=require")
        #expect(throws: PostgresStoreError.self) { try PostgresStore.configuration(url: "mysql://uid@localhost/uid") }
        #expect(throws: PostgresStoreError.self) { try PostgresStore.configuration(url: "postgres://localhost/uid") }
        #expect(throws: PostgresStoreError.self) { try PostgresStore.configuration(url: "postgres://uid@localhost/uid?sslmode=sometimes") }
    }
}

/// A fresh database per test, made through the URL in `UID_TEST_POSTGRES_URL`.
enum PostgresTestDatabase {
    static let adminURL = ProcessInfo.processInfo.environment["UID_TEST_POSTGRES_URL"]

    static func withClient<T: Sendable>(url: String, _ body: (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: try PostgresStore.configuration(url: url))
        let run = Task { await client.run() }
        let result: Result<T, any Error>
        do { result = .success(try await body(client)) } catch { result = .failure(error) }
        run.cancel()
        await run.value
        return try result.get()
    }

    static func withDatabase<T: Sendable>(_ body: (String) async throws -> T) async throws -> T {
        let admin = try #require(adminURL)
        let name = "uid_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        var components = try #require(URLComponents(string: admin))
        components.path = "/\(name)"
        let url = try #require(components.string)
        try await withClient(url: admin) { client in
            _ = try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        }
        let result: Result<T, any Error>
        do { result = .success(try await body(url)) } catch { result = .failure(error) }
        try await withClient(url: admin) { client in
            _ = try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
        }
        return try result.get()
    }

    static func withStore<T: Sendable>(_ body: (PostgresStore, String) async throws -> T) async throws -> T {
        try await withDatabase { url in
            let store = try await PostgresStore.connect(url: url, logger: Logger(label: "test"))
            let result: Result<T, any Error>
            do { result = .success(try await body(store, url)) } catch { result = .failure(error) }
            await store.shutdown()
            return try result.get()
        }
    }

    /// The first row of `sql`, each column as text, read through the store's own database.
    static func query(_ store: PostgresStore, _ sql: String) async throws -> [String?] {
        try await store.withTestConnection { connection in
            guard let row = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "test")).collect().first else { return [] }
            return try row.map { cell in try cell.decode(String?.self) }
        }
    }
}
