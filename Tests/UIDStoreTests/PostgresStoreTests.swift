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

    // MARK: - Contents (what every store does is in StoreContractTests)

    @Test func valuesAreStoredAsSQLiteStoresThem() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            let (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 8)
            try await store.initialize(with: contents)
            // JSON text, booleans 0/1, base64 secrets.
            let row = try await PostgresTestDatabase.query(store, "SELECT roles, disabled::text, secret FROM clients")
            #expect(row == ["[\"GENERATOR\",\"ID_READER\",\"MAINTAINER\",\"MAPPER\",\"OPTOUT\",\"SHARER\"]", "0", Base64.encode(contents.clients[0].secret)])
            let site = try await PostgresTestDatabase.query(store, "SELECT enabled::text, domain_names FROM sites")
            #expect(site == ["1", "[]"])
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

    // MARK: - Opt-outs

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

    /// Racing inserts of one FLH may burn sequence values: the gaps they leave hold no row back for good.
    @Test func racingRecordsOfOneIdentityLeaveNoRowUndelivered() async throws {
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

    // MARK: - Connecting

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

    @Test func poolSizeComesFromTheURL() throws {
        #expect(try PostgresStore.configuration(url: "postgres://uid@localhost/uid").options.maximumConnections == 20)
        let small = try PostgresStore.configuration(url: "postgres://uid@localhost/uid?sslmode=disable&pool_max_connections=3")
        #expect(small.options.maximumConnections == 3)
        #expect(try PostgresStore.configuration(url: "postgres://uid@localhost/uid?pool_max_connections=1").options.maximumConnections == 1)
        for bad in ["0", "-1", "501", "ten", "", "3.5", "99999999999999999999"] {
            #expect {
                try PostgresStore.configuration(url: "postgres://uid@localhost/uid?pool_max_connections=\(bad)")
            } throws: { error in
                "\(error)".contains("pool_max_connections must be a whole number from 1 to 500")
            }
        }
        #expect {
            try PostgresStore.configuration(url: "postgres://uid@localhost/uid?pool_size=3")
        } throws: { error in
            "\(error)".contains("unsupported URL parameter pool_size")
        }
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
        try await administer(admin, "CREATE DATABASE \(name)")
        let result: Result<T, any Error>
        do { result = .success(try await body(url)) } catch { result = .failure(error is PSQLError ? DescribedError(error) : error) }
        // Dropping is cleanup: a failure there is reported, but does not fail the test that ran.
        do {
            try await administer(admin, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        } catch {
            print("warning: could not drop test database \(name): \(error)")
        }
        return try result.get()
    }

    /// Runs one statement on the admin database, retried a few times: suites run in parallel and
    /// database-level statements can collide (for example two `CREATE DATABASE` copying template1).
    static func administer(_ admin: String, _ sql: String) async throws {
        var attempt = 0
        while true {
            attempt += 1
            do {
                try await withClient(url: admin) { client in _ = try await client.query(PostgresQuery(unsafeSQL: sql)) }
                return
            } catch {
                guard attempt < 4 else { throw DescribedError(error) }
                try await Task.sleep(for: .milliseconds(250 * attempt))
            }
        }
    }

    /// PostgresNIO hides the server's message from `description`; a failing test should show it.
    struct DescribedError: Error, CustomStringConvertible {
        let description: String
        init(_ error: any Error) {
            description = error is DescribedError ? "\(error)" : String(reflecting: error)
        }
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
