import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDStore

/// What every `OperatorStore` must do, run on each backend: the same tests on SQLite and on
/// PostgreSQL (`StoreBackend`). Behaviour only one backend has (SQLite's file modes, PostgreSQL's
/// URL handling and opt-out id gaps) is tested beside that backend.
@Suite struct StoreContractTests {
    static let start: Int64 = 1_750_000_000_000

    @Test(.enabled(if: PostgresTestDatabase.adminURL != nil, Comment(rawValue: StoreBackend.postgresSkipReason)))
    func postgresHalfRuns() async throws {
        #expect(StoreBackend.available == [.sqlite, .postgres])
        try await StoreBackend.postgres.withStore { store, _ async throws in
            #expect(try await store.isEmpty())
        }
    }

    // MARK: - Seeding and loading

    @Test(arguments: StoreBackend.available)
    func aNewStoreIsEmptyUntilInitialized(_ backend: StoreBackend) async throws {
        try await backend.withStore { store, _ async throws in
            #expect(try await store.isEmpty())
            #expect(try await store.version() == StoreVersion(configuration: 1, salts: 1))
            #expect(try await store.loadSites().isEmpty)
            #expect(try await store.optOutCount() == 0)
            #expect(try await store.runtimeSettings() == RuntimeSettings())
            await #expect(throws: StoreError.self, "no salt table yet") { _ = try await store.saltTableHeader() }
            await #expect(throws: StoreError.self, "no salt table yet") { _ = try await store.loadContents() }
        }
    }

    @Test(arguments: StoreBackend.available)
    func initializeWritesEverythingLoadContentsReads(_ backend: StoreBackend) async throws {
        try await backend.withStore { store, _ async throws in
            let (contents, credentials) = Self.richContents()
            try await store.initialize(with: contents)
            #expect(try await !store.isEmpty())
            await #expect("a second initialize is refused") {
                try await store.initialize(with: contents)
            } throws: { error in
                if case StoreError.alreadyInitialized = error { true } else { false }
            }

            let loaded = try await store.loadContents()
            ImportTests.expectSame(loaded, contents, keysInFileOrder: false)
            #expect(loaded.optOuts.count == 0)
            #expect(loaded.salts[0].currentSalt?.count == 44)

            let snapshot = try OperatorSnapshot(config: OperatorConfig(), contents: loaded)
            #expect(snapshot.clients.client(forAPIKey: credentials.apiKey)?.keyID == credentials.keyID)
            #expect(snapshot.keys.activeSiteKey(siteID: 999, atSeconds: GeneratedCore.now / 1000)?.keysetID == 3)

            let configuration = try await store.loadConfiguration()
            #expect(configuration.salts.count == 0 && configuration.optOuts.count == 0)
            #expect(configuration.clients.count == contents.clients.count && configuration.keypairs.count == contents.keypairs.count)
            #expect(try await store.loadIdentityData().salts.count == contents.salts.count)
            let state = try await store.loadState(includingSalts: true, includingOptOuts: true)
            #expect(state.contents.salts.count == contents.salts.count)
            #expect(state.version == (try await store.version()))
            #expect(state.optOutWatermark == 0)
            #expect(state.runtimeSettings == RuntimeSettings())
        }
    }

    /// Separate instances (processes, nodes) on one empty store, seeding at once.
    @Test(arguments: StoreBackend.available)
    func instancesStartingTogetherSeedExactlyOnce(_ backend: StoreBackend) async throws {
        for round in 0..<2 {
            try await backend.withLocation { location in
                let results = try await withThrowingTaskGroup(of: (ClientCredentials?, StoreContents).self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            try await location.withStore { store async throws in
                                let credentials = try await StoreBootstrap.seedIfEmpty(store, scope: .uid2, environment: .test, nowMillis: Self.start,
                                                                                       bucketCount: 2_000)
                                return (credentials, try await store.loadIdentityData())
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let seeders = results.compactMap(\.0)
                #expect(seeders.count == 1, "round \(round): exactly one instance seeds")
                let reference = results[0].1
                for (_, contents) in results {
                    #expect(contents.salts.count == 2_000 && (0..<2_000).allSatisfy { contents.salts[$0] == reference.salts[$0] })
                    #expect(contents.clients.map(\.keyID) == seeders.map(\.keyID), "the seeder's client is the one stored")
                    #expect(contents.keys.map(\.id) == reference.keys.map(\.id))
                }
                try await location.withStore { store async throws in
                    #expect(try await StoreBootstrap.seedIfEmpty(store, scope: .uid2, environment: .test, nowMillis: 0) == nil,
                            "an initialized store is not seeded again")
                }
            }
        }
    }

    // MARK: - Helpers

    /// A seeded data set widened with what the columns can hold: v4 salt buckets (key material, no
    /// salt), previous salts, a client-side key pair, sites with domains and apps, several keysets.
    static func richContents(bucketCount: Int = 64) -> (StoreContents, ClientCredentials) {
        var (contents, credentials) = GeneratedCore.widened(bucketCount: bucketCount)
        contents.sites[0].domainNames = ["example.com", "example.org"]
        contents.sites[0].appNames = ["com.example.app"]
        return (contents, credentials)
    }

    static func flh(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 32) }

    /// A salt run at `nowMillis` with the production schedule (or `schedule`).
    static func rotateSalts(
        _ store: any OperatorStore, nowMillis: Int64, dueBeforeMillis: Int64? = nil, skipIfRunSince: Int64? = nil,
        schedule: SaltSchedule = SaltSchedule()
    ) async throws -> SaltRotationOutcome? {
        try await store.rotateSalts(
            nowMillis: nowMillis, dueBeforeMillis: dueBeforeMillis ?? SaltSchedule.dueBeforeMillis(nowMillis: nowMillis), skipIfRunSinceMillis: skipIfRunSince
        ) { candidates, total in
            var generator = SystemRandomNumberGenerator()
            return schedule.plan(candidates: candidates, totalBuckets: total, nowMillis: nowMillis, using: &generator)
        }
    }
}
