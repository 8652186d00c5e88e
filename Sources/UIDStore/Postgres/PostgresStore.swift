import Foundation
import Logging
import PostgresNIO
import UIDOperatorCore
import UIDProtocol

/// The store several operator nodes share: one PostgreSQL database, with the same tables, columns
/// and semantics as `SQLiteStore`.
///
/// Concurrency between nodes:
/// - Configuration writes that allocate ids (`addSite`, `rotateKey`, `rotateDueKeys`) and salt
///   rotations each run in one transaction that first takes a transaction-scoped advisory lock, so
///   racing nodes check and act one after the other (READ COMMITTED: every statement after the
///   lock sees what the previous holder committed).
/// - Reads of several tables (`loadState`, `loadContents`) run in one REPEATABLE READ, READ ONLY
///   transaction: one consistent snapshot, like SQLite's WAL read.
/// - Opt-outs get increasing ids from a sequence; see `optOuts(after:)` for how a node polling by id
///   never skips one that commits late.
public final class PostgresStore: OperatorStore {
    private let client: PostgresClient
    private let runTask: Task<Void, Never>
    private let logger: Logger

    /// At most this many opt-outs per `optOuts(after:)` batch.
    static let optOutBatchLimit = 100_000
    /// How long an opt-out id may stay uncommitted (allocated, not yet visible) before readers
    /// treat a gap in ids as permanent. See `optOuts(after:)`.
    static let optOutCommitGraceMillis: Int64 = 2_000
    /// Multi-row INSERTs stay within the protocol's limit of 65,535 bind parameters.
    static let maximumBindParameters = Int(UInt16.max)

    /// Keys of the transaction-scoped advisory locks (per database).
    enum Lock: Int64 {
        case migrations = 0x5549_4453_0000_0001
        /// Keyset and key id allocation and key rotation.
        case keys = 0x5549_4453_0000_0002
        /// Salt rotation.
        case salts = 0x5549_4453_0000_0003
    }

    /// Epoch milliseconds of the database clock, now (`clock_timestamp()`), for stamping rows.
    private static let nowMillisSQL = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
    /// Epoch milliseconds of the start of the current transaction, for judging a row's age against
    /// the snapshot a read sees.
    private static let transactionMillisSQL = "(EXTRACT(EPOCH FROM transaction_timestamp()) * 1000)::BIGINT"

    private init(client: PostgresClient, runTask: Task<Void, Never>, logger: Logger) {
        self.client = client
        self.runTask = runTask
        self.logger = logger
    }

    /// Connects to `postgres://user:password@host:port/database` (or `postgresql://`), applies the
    /// schema migrations and returns a ready store. `sslmode` may be given as a query parameter:
    /// `disable` (the default), `prefer`, `require` (encrypted, certificate not checked),
    /// `verify-ca` or `verify-full`.
    ///
    /// The first connection is made directly, so a wrong address, password or database name fails
    /// at once with the server's reason (the pool would retry for a minute and then report only
    /// that its circuit breaker tripped). Migrations run on it under an advisory lock, so nodes
    /// starting together apply each one once. Call `shutdown()` when done: the connection pool
    /// runs in a task until then.
    public static func connect(url: String, logger: Logger) async throws -> PostgresStore {
        let settings = try Settings(url: url)
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: try settings.connectionConfiguration(), id: 0, logger: logger)
        } catch let error as PSQLError {
            throw PostgresStoreError.database(describe(error))
        }
        do {
            try await migrate(connection, logger: logger)
            try? await connection.close()
        } catch {
            try? await connection.close()
            if let error = error as? PSQLError { throw PostgresStoreError.database(describe(error)) }
            throw error
        }

        let client = PostgresClient(configuration: settings.clientConfiguration(), backgroundLogger: logger)
        // Started immediately where available, so the pool is running before the first lease
        // (otherwise PostgresNIO may log a warning; the lease waits and works either way).
        let runTask: Task<Void, Never>
        if #available(macOS 26, iOS 26, tvOS 26, watchOS 26, visionOS 26, *) {
            runTask = Task.immediate { await client.run() }
        } else {
            runTask = Task { await client.run() }
        }
        return PostgresStore(client: client, runTask: runTask, logger: logger)
    }

    /// Closes every connection. The store cannot be used afterwards.
    public func shutdown() async {
        runTask.cancel()
        await runTask.value
    }

    // MARK: - Connection and migrations

    /// The pool's configuration for `url` (tests connect with it too).
    static func configuration(url: String) throws -> PostgresClient.Configuration {
        try Settings(url: url).clientConfiguration()
    }

    /// What a connection URL says.
    struct Settings {
        enum TLSMode: String { case disable, prefer, require, verifyCA = "verify-ca", verifyFull = "verify-full" }

        var host: String
        var port: Int
        var username: String
        var password: String?
        var database: String?
        var tls: TLSMode = .disable

        init(url: String) throws {
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
                  scheme == "postgres" || scheme == "postgresql"
            else { throw PostgresStoreError.invalidURL("expected postgres://user:password@host:port/database") }
            var host = components.host ?? ""
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            self.host = host.isEmpty ? "localhost" : host
            port = components.port ?? 5432
            guard let user = components.user, !user.isEmpty else { throw PostgresStoreError.invalidURL("the URL names no user") }
            username = user
            password = components.password
            var database = components.path
            if database.hasPrefix("/") { database.removeFirst() }
            database = database.removingPercentEncoding ?? database
            self.database = database.isEmpty ? nil : database
            for item in components.queryItems ?? [] {
                guard item.name == "sslmode" else { throw PostgresStoreError.invalidURL("unsupported URL parameter \(item.name)") }
                let value = item.value ?? ""
                if value == "allow" {
                    tls = .disable
                } else if let mode = TLSMode(rawValue: value) {
                    tls = mode
                } else {
                    throw PostgresStoreError.invalidURL("unknown sslmode \(value)")
                }
            }
        }

        private var tlsConfiguration: TLSConfiguration {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = switch tls {
            case .verifyFull: .fullVerification
            case .verifyCA: .noHostnameVerification
            default: .none
            }
            return configuration
        }

        private static let startupParameters = [("client_encoding", "UTF8"), ("application_name", "uid-operator")]

        func clientConfiguration() -> PostgresClient.Configuration {
            let tls: PostgresClient.Configuration.TLS = switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(tlsConfiguration)
            default: .require(tlsConfiguration)
            }
            var configuration = PostgresClient.Configuration(host: host, port: port, username: username, password: password, database: database, tls: tls)
            configuration.options.additionalStartupParameters = Self.startupParameters
            // A server that went away is reported within seconds, not after the pool's long default.
            configuration.options.connectTimeout = .seconds(3)
            return configuration
        }

        func connectionConfiguration() throws -> PostgresConnection.Configuration {
            let tls: PostgresConnection.Configuration.TLS = switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: tlsConfiguration))
            default: .require(try NIOSSLContext(configuration: tlsConfiguration))
            }
            var configuration = PostgresConnection.Configuration(host: host, port: port, username: username, password: password, database: database, tls: tls)
            configuration.options.additionalStartupParameters = Self.startupParameters
            return configuration
        }
    }

    private static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await inTransaction(connection, logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Lock.migrations.rawValue))", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: PostgresSchema.createMigrationsTable), logger: logger)
            var applied = Set<String>()
            for try await name in try await connection.query("SELECT name FROM schema_migrations", logger: logger).decode(String.self) {
                applied.insert(name)
            }
            for migration in PostgresSchema.migrations where !applied.contains(migration.name) {
                logger.info("Applying PostgreSQL store migration", metadata: ["migration": "\(migration.name)"])
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO schema_migrations (name) VALUES (\(migration.name))", logger: logger)
            }
        }
    }

    /// Runs `body` on a pooled connection. Database errors come out as
    /// `PostgresStoreError.database` with the server's message: PostgresNIO's own errors describe
    /// themselves only as "PSQLError – Generic description…".
    private func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in try await body(connection) }
        } catch let error as PSQLError {
            throw PostgresStoreError.database(Self.describe(error))
        }
    }

    /// The code, the server's message and detail, and the underlying error; never the query's
    /// bound values (they may be secrets).
    static func describe(_ error: PSQLError) -> String {
        var text = "\(error.code)"
        if let state = error.serverInfo?[.sqlState] { text += " \(state)" }
        if let message = error.serverInfo?[.message] { text += ": \(message)" }
        if let detail = error.serverInfo?[.detail] { text += " (\(detail))" }
        if let underlying = error.underlying { text += ": \(underlying)" }
        return text
    }

    /// Runs `body` in one transaction on one pooled connection: committed when it returns,
    /// rolled back (and its error rethrown as is) when it throws.
    private func transaction<T: Sendable>(
        _ begin: String = "BEGIN", _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection { connection in
            try await Self.inTransaction(connection, begin, logger: self.logger, body)
        }
    }

    private static func inTransaction<T: Sendable>(
        _ connection: PostgresConnection, _ begin: String = "BEGIN", logger: Logger, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await connection.query(PostgresQuery(unsafeSQL: begin), logger: logger)
        let value: T
        do {
            value = try await body(connection)
        } catch {
            do {
                try await connection.query("ROLLBACK", logger: logger)
            } catch let rollbackError {
                logger.warning("ROLLBACK failed", metadata: ["error": "\(String(reflecting: rollbackError))"])
            }
            throw error
        }
        try await connection.query("COMMIT", logger: logger)
        return value
    }

    /// One consistent snapshot for reads that span tables.
    private func readTransaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    /// A pooled connection, for tests that look at the tables directly.
    func withTestConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await withConnection(body)
    }

    private func lock(_ lock: Lock, _ connection: PostgresConnection) async throws {
        try await connection.query("SELECT pg_advisory_xact_lock(\(lock.rawValue))", logger: logger)
    }

    private func execute(_ query: PostgresQuery, _ connection: PostgresConnection) async throws {
        try await connection.query(query, logger: logger)
    }

    private func rows(_ query: PostgresQuery, _ connection: PostgresConnection) async throws -> [PostgresRow] {
        try await connection.query(query, logger: logger).collect()
    }

    /// The first column of the first row.
    private func value<T: PostgresDecodable>(_ type: T.Type, _ query: PostgresQuery, _ connection: PostgresConnection) async throws -> T? {
        guard let row = try await rows(query, connection).first else { return nil }
        return try row.decode(T.self)
    }

    // MARK: - Reads

    public func isEmpty() async throws -> Bool {
        try await withConnection { connection in
            try await self.value(Int64.self, "SELECT COUNT(*) FROM salt_metadata", connection) == 0
        }
    }

    public func loadContents() async throws -> StoreContents {
        try await readTransaction { connection in
            try await self.contents(connection, includingSalts: true, includingOptOuts: true)
        }
    }

    public func loadState(includingSalts: Bool, includingOptOuts: Bool) async throws -> StoreState {
        try await readTransaction { connection in
            StoreState(
                contents: try await self.contents(connection, includingSalts: includingSalts, includingOptOuts: includingOptOuts),
                version: try await self.version(connection),
                optOutWatermark: try await self.safeOptOutWatermark(connection),
                runtimeSettings: try await self.runtimeSettings(connection)
            )
        }
    }

    public func runtimeSettings() async throws -> RuntimeSettings {
        try await withConnection { connection in try await self.runtimeSettings(connection) }
    }

    private func runtimeSettings(_ connection: PostgresConnection) async throws -> RuntimeSettings {
        guard let json = try await value(String.self, "SELECT settings FROM runtime_config WHERE id = 1", connection) else { return RuntimeSettings() }
        return try JSONDecoder().decode(RuntimeSettings.self, from: Data(json.utf8))
    }

    /// Stored as SQLite stores them: one JSON document in `runtime_config`; a change bumps the
    /// configuration version.
    public func setRuntimeSettings(_ settings: RuntimeSettings) async throws {
        let json = String(decoding: try JSONEncoder().encode(settings), as: UTF8.self)
        try await withConnection { connection in
            try await self.execute("""
                INSERT INTO runtime_config (id, settings) VALUES (1, \(json)) ON CONFLICT (id) DO UPDATE SET settings = EXCLUDED.settings
                """, connection)
        }
    }

    public func version() async throws -> StoreVersion {
        try await withConnection { connection in try await self.version(connection) }
    }

    private func version(_ connection: PostgresConnection) async throws -> StoreVersion {
        var values = [Int32: Int64]()
        for row in try await rows("SELECT id, version FROM store_version", connection) {
            let (id, version) = try row.decode((Int32, Int64).self)
            values[id] = version
        }
        return StoreVersion(configuration: values[1] ?? 0, salts: values[2] ?? 0)
    }

    /// Opt-outs recorded after `watermark`, by increasing id, at most 100,000.
    ///
    /// Ids come from a sequence, and a transaction can commit after one holding a higher id: a
    /// reader could see ids 7 and 9 while 8 is still being written, and a watermark moved to 9
    /// would skip 8 forever. Gaps also stay for good (a rolled-back insert, a lost insert race,
    /// burned sequence values), so a reader cannot wait for every gap to fill. Rule: the batch
    /// stops before the first row preceded by a gap (an id other than the previous one + 1) when
    /// that row was recorded less than `optOutCommitGraceMillis` (2 s) before the reading
    /// transaction started. The missing id was allocated before that row's, so once the row is
    /// older than the grace, the missing id's writer has long finished: a single-statement
    /// `recordOptOut` commits in milliseconds, and `importOptOuts` holds a table lock that keeps
    /// other writers from taking ids until it commits. A young gap is retried at the next poll;
    /// rows up to the gap are returned. Both sides use the database's clock.
    public func optOuts(after watermark: Int64) async throws -> OptOutBatch {
        try await withConnection { connection in
            var batch = OptOutBatch(records: [], watermark: watermark)
            // One row holding the whole batch (see `Bulk`).
            let rows = try await self.rows(PostgresQuery(unsafeSQL: """
                SELECT string_agg(int8send(id) || int8send(opted_out_since) || int8send(recorded_ms)
                    || int4send((recorded_ms > \(Self.transactionMillisSQL) - \(Self.optOutCommitGraceMillis))::integer)
                    || \(Bulk.field("flh")) || \(Bulk.field("advertising_id")), ''::bytea ORDER BY id)
                FROM (SELECT * FROM optouts WHERE id > $1 ORDER BY id LIMIT \(Self.optOutBatchLimit)) AS batch
                """, binds: Self.binds(watermark)), connection)
            guard let blob = try rows.first?.decode(ByteBuffer?.self) else { return batch }
            try blob.withUnsafeReadableBytes { bytes in
                var reader = Bulk.Reader(bytes)
                while !reader.isAtEnd {
                    let id = try reader.int64()
                    let since = try reader.int64()
                    let recorded = try reader.int64()
                    let young = try reader.int32() != 0
                    let flh = try reader.field()
                    let advertisingID = try reader.field()
                    if id != batch.watermark + 1 && young { break }
                    batch.records.append((OptOutRecord(firstLevelHash: flh.map { Array($0) } ?? [], advertisingID: advertisingID.map { Array($0) },
                                                       optedOutSinceSeconds: since), recorded))
                    batch.watermark = id
                }
            }
            return batch
        }
    }

    /// The watermark a full load hands to incremental polling, by the same rule as
    /// `optOuts(after:)`: every id up to the newest row older than the grace is settled; above it
    /// the watermark moves on through rows until a young gap. Rows a full load already read above
    /// the watermark come again from `optOuts(after:)`, which is harmless.
    private func safeOptOutWatermark(_ connection: PostgresConnection) async throws -> Int64 {
        let settled = try await value(Int64.self, PostgresQuery(unsafeSQL: """
            SELECT id FROM optouts WHERE recorded_ms <= \(Self.transactionMillisSQL) - \(Self.optOutCommitGraceMillis)
            ORDER BY id DESC LIMIT 1
            """), connection) ?? 0
        // Usually a handful of rows; after a large import, all of them (hence one packed row).
        var watermark = settled
        let rows = try await rows(PostgresQuery(unsafeSQL: """
            SELECT string_agg(int8send(id) || int4send((recorded_ms > \(Self.transactionMillisSQL) - \(Self.optOutCommitGraceMillis))::integer),
                              ''::bytea ORDER BY id)
            FROM optouts WHERE id > $1
            """, binds: Self.binds(settled)), connection)
        guard let blob = try rows.first?.decode(ByteBuffer?.self) else { return watermark }
        try blob.withUnsafeReadableBytes { bytes in
            var reader = Bulk.Reader(bytes)
            while !reader.isAtEnd {
                let id = try reader.int64()
                let young = try reader.int32() != 0
                if id != watermark + 1 && young { break }
                watermark = id
            }
        }
        return watermark
    }

    private func contents(_ connection: PostgresConnection, includingSalts: Bool, includingOptOuts: Bool) async throws -> StoreContents {
        let sites = try await self.sites(connection)
        let clients = try await rows("""
            SELECT key_id, key_hash, key_salt, secret, name, contact, site_id, roles, disabled, service_id, created FROM clients
            """, connection).compactMap { row -> ClientKey? in
            let (keyID, hash, salt, secret, name, contact, siteID, roles, disabled, serviceID, created) =
                try row.decode((String, String, String, String, String, String, Int32, String, Int32, Int32, Int64).self)
            guard let hash = Base64.decode(hash), let salt = Base64.decode(salt), let secret = Base64.decode(secret) else { return nil }
            return ClientKey(
                keyID: keyID, keyHash: hash, keySalt: salt, secret: secret, name: name, contact: contact, siteID: siteID,
                roles: Set(SQLiteStore.strings(roles).map(Role.init(parsing:))), disabled: disabled != 0, serviceID: serviceID, createdSeconds: created
            )
        }
        let keysets = try await rows("SELECT keyset_id, site_id, name, allowed_sites, created, enabled, is_default FROM keysets", connection).map { row in
            let (id, siteID, name, allowedSites, created, enabled, isDefault) = try row.decode((Int32, Int32, String, String?, Int64, Int32, Int32).self)
            return Keyset(id: id, siteID: siteID, name: name, allowedSites: allowedSites.map { SQLiteStore.strings($0).compactMap { Int32($0) } },
                          createdSeconds: created, enabled: enabled != 0, isDefault: isDefault != 0)
        }
        let keys = try await rows("SELECT id, keyset_id, created, activates, expires, secret FROM keyset_keys ORDER BY id", connection)
            .compactMap(Self.key)
        let keypairs = try await rows("""
            SELECT subscription_id, site_id, public_key, private_key, contact, name, created, disabled FROM client_side_keypairs
            """, connection).compactMap { row -> ClientSideKeypair? in
            let (subscription, siteID, publicKey, privateKey, contact, name, created, disabled) =
                try row.decode((String, Int32, String, String, String, String, Int64, Int32).self)
            return ClientSideKeypair(subscriptionID: subscription, siteID: siteID, publicKeyText: publicKey, privateKeyText: privateKey,
                                     contact: contact, name: name, createdSeconds: created, disabled: disabled != 0)
        }
        let salts = includingSalts ? try await loadSalts(connection) : SaltTable(firstLevelSalt: [], idPrefix: "", idSecret: "")
        let optOuts = includingOptOuts ? try await loadOptOuts(connection) : OptOutIndex()
        return StoreContents(sites: sites, clients: clients, keysets: keysets, keys: keys, salts: salts, optOuts: optOuts, keypairs: keypairs)
    }

    private static func key(_ row: PostgresRow) throws -> KeysetKey? {
        let (id, keysetID, created, activates, expires, secret) = try row.decode((Int32, Int32, Int64, Int64, Int64, String).self)
        guard let secret = Base64.decode(secret) else { return nil }
        return KeysetKey(id: id, keysetID: keysetID, createdSeconds: created, activatesSeconds: activates, expiresSeconds: expires, secret: secret)
    }

    /// Streams the buckets in position order, 65,536 to a row (see `Bulk`): never a million rows,
    /// never all of them in memory as rows.
    private func loadSalts(_ connection: PostgresConnection) async throws -> SaltTable {
        guard let meta = try await rows("SELECT first_level, id_prefix, id_secret FROM salt_metadata WHERE id = 1", connection).first else {
            throw StoreError.notInitialized
        }
        let (firstLevel, idPrefix, idSecret) = try meta.decode((String, String, String).self)
        let count = try await value(Int64.self, "SELECT COUNT(*) FROM salt_buckets", connection) ?? 0
        var table = SaltTable(firstLevelSalt: Array(firstLevel.utf8), idPrefix: idPrefix, idSecret: idSecret, expectedCount: Int(count))
        let chunks = try await connection.query(PostgresQuery(unsafeSQL: """
            SELECT string_agg(\(Self.packedBucket), ''::bytea ORDER BY position)
            FROM salt_buckets GROUP BY position >> 16 ORDER BY position >> 16
            """), logger: logger)
        for try await row in chunks {
            let chunk = try row.decode(ByteBuffer.self)
            try chunk.withUnsafeReadableBytes { bytes in
                var reader = Bulk.Reader(bytes)
                while !reader.isAtEnd {
                    table.append(try Self.readBucket(&reader))
                }
            }
        }
        return table
    }

    /// One bucket packed for `string_agg` (see `Bulk`), read back by `readBucket`.
    private static let packedBucket = """
        int8send(id) || int8send(last_updated) || int8send(refresh_from)
            || \(Bulk.field("convert_to(current_salt, 'UTF8')")) || \(Bulk.field("convert_to(previous_salt, 'UTF8')"))
            || \(Bulk.field("int4send(current_key_id)")) || \(Bulk.field("convert_to(current_key, 'UTF8')"))
            || \(Bulk.field("convert_to(current_key_salt, 'UTF8')"))
            || \(Bulk.field("int4send(previous_key_id)")) || \(Bulk.field("convert_to(previous_key, 'UTF8')"))
            || \(Bulk.field("convert_to(previous_key_salt, 'UTF8')"))
        """

    private static func readBucket(_ reader: inout Bulk.Reader) throws -> SaltTable.Entry {
        let id = try reader.int64()
        let lastUpdated = try reader.int64()
        let refreshFrom = try reader.int64()
        let current = try reader.field()
        let previous = try reader.field()
        let currentKey = material(id: try reader.field(), key: try reader.field(), salt: try reader.field())
        let previousKey = material(id: try reader.field(), key: try reader.field(), salt: try reader.field())
        return SaltTable.Entry(
            id: id, lastUpdatedMillis: lastUpdated, refreshFromMillis: refreshFrom,
            currentSalt: bytes(current), previousSalt: bytes(previous), currentKey: currentKey, previousKey: previousKey
        )
    }

    private func loadOptOuts(_ connection: PostgresConnection) async throws -> OptOutIndex {
        let count = try await value(Int64.self, "SELECT COUNT(*) FROM optouts", connection) ?? 0
        var index = OptOutIndex(minimumCapacity: Int(count))
        let chunks = try await connection.query(PostgresQuery(unsafeSQL: """
            SELECT string_agg(int8send(opted_out_since) || \(Bulk.field("flh")) || \(Bulk.field("advertising_id")), ''::bytea)
            FROM optouts GROUP BY id >> 16
            """), logger: logger)
        for try await row in chunks {
            let chunk = try row.decode(ByteBuffer.self)
            try chunk.withUnsafeReadableBytes { bytes in
                var reader = Bulk.Reader(bytes)
                while !reader.isAtEnd {
                    let since = try reader.int64()
                    let flh = try reader.field()
                    let advertisingID = try reader.field()
                    index.insert(firstLevelHash: flh.map { Array($0) } ?? [], advertisingID: advertisingID.map { Array($0) }, optedOutSinceSeconds: since)
                }
            }
        }
        return index
    }

    public func loadSites() async throws -> [Site] {
        try await withConnection { connection in try await self.sites(connection) }
    }

    private func sites(_ connection: PostgresConnection) async throws -> [Site] {
        try await rows("SELECT id, name, enabled, domain_names, app_names, created FROM sites", connection).map { row in
            let (id, name, enabled, domains, apps, created) = try row.decode((Int32, String, Int32, String, String, Int64).self)
            return Site(id: id, name: name, enabled: enabled != 0, domainNames: SQLiteStore.strings(domains),
                        appNames: SQLiteStore.strings(apps), createdSeconds: created)
        }
    }

    public func optOutCount() async throws -> Int {
        try await withConnection { connection in
            Int(try await self.value(Int64.self, "SELECT COUNT(*) FROM optouts", connection) ?? 0)
        }
    }

    public func recentOptOuts(limit: Int) async throws -> [OptOutRecord] {
        try await withConnection { connection in
            try await self.rows("SELECT flh, advertising_id, opted_out_since FROM optouts ORDER BY id DESC LIMIT \(Int64(limit))", connection)
                .map { row in
                    let (flh, advertisingID, since) = try row.decode((Data, Data?, Int64).self)
                    return OptOutRecord(firstLevelHash: Array(flh), advertisingID: advertisingID.map { Array($0) }, optedOutSinceSeconds: since)
                }
        }
    }

    // MARK: - Writes

    public func initialize(with contents: StoreContents) async throws {
        let salts = contents.salts
        // `updated` marks the last salt rotation: the newest bucket's, so fresh salts are not due.
        let lastRotation = (0..<salts.count).reduce(Int64(0)) { max($0, salts.lastUpdatedMillis(at: $1)) }
        try await transaction { connection in
            // Two nodes seeding an empty database at once: the second finds the first's data.
            try await self.lock(.keys, connection)
            try await self.lock(.salts, connection)
            guard try await self.value(Int64.self, "SELECT COUNT(*) FROM salt_metadata", connection) == 0 else {
                throw StoreError.alreadyInitialized
            }
            try await self.insert(contents, saltsUpdated: lastRotation, connection)
        }
    }

    /// Replaces sites, clients, keysets, keys, salts and client-side key pairs with `contents` in
    /// one transaction (readers see the old data or the new); opt-outs are kept. As
    /// `SQLiteStore.replaceContents`: `salt_metadata.updated` is the newest bucket's rotation time
    /// but never in the future.
    public func replaceContents(with contents: StoreContents) async throws {
        let salts = contents.salts
        let newestBucket = (0..<salts.count).reduce(Int64(0)) { max($0, salts.lastUpdatedMillis(at: $1)) }
        let updated = min(newestBucket, Self.nowMillis())
        try await transaction { connection in
            try await self.lock(.keys, connection)
            try await self.lock(.salts, connection)
            // DELETE, not TRUNCATE: TRUNCATE is not MVCC-safe for concurrent snapshot readers.
            for table in ["sites", "clients", "keysets", "keyset_keys", "salt_metadata", "salt_buckets", "client_side_keypairs"] {
                try await self.execute(PostgresQuery(unsafeSQL: "DELETE FROM \(table)"), connection)
            }
            try await self.insert(contents, saltsUpdated: updated, connection)
        }
    }

    private func insert(_ contents: StoreContents, saltsUpdated: Int64, _ connection: PostgresConnection) async throws {
        try await insertRows(connection, table: "sites", columns: ["id", "name", "enabled", "domain_names", "app_names", "created"],
                             count: contents.sites.count) { index, binds in
            Self.bind(contents.sites[index], into: &binds)
        }
        try await insertRows(connection, table: "clients", columns: Self.clientColumns, count: contents.clients.count) { index, binds in
            Self.bind(contents.clients[index], into: &binds)
        }
        try await insertRows(connection, table: "keysets", columns: Self.keysetColumns, count: contents.keysets.count) { index, binds in
            Self.bind(contents.keysets[index], into: &binds)
        }
        try await insertRows(connection, table: "keyset_keys", columns: Self.keyColumns, count: contents.keys.count) { index, binds in
            Self.bind(contents.keys[index], into: &binds)
        }
        try await insertRows(connection, table: "client_side_keypairs", columns: Self.keypairColumns, count: contents.keypairs.count) { index, binds in
            Self.bind(contents.keypairs[index], into: &binds)
        }
        let salts = contents.salts
        try await execute("""
            INSERT INTO salt_metadata (id, first_level, id_prefix, id_secret, updated)
            VALUES (1, \(Self.text(salts.firstLevelSalt)), \(salts.idPrefix), \(salts.idSecret), \(saltsUpdated))
            """, connection)
        // COPY, not INSERTs: PostgresNIO spends microseconds on each bound value (tens of seconds
        // for a million buckets in a debug build); COPY's text is built here in one pass.
        try await connection.copyFrom(table: "salt_buckets", columns: [
            "position", "id", "last_updated", "current_salt", "refresh_from", "previous_salt",
            "current_key_id", "current_key", "current_key_salt", "previous_key_id", "previous_key", "previous_key_salt",
        ], logger: logger) { writer in
            var text = Bulk.CopyText()
            for position in 0..<salts.count {
                let entry = salts[position]
                text.integer(Int64(position))
                text.integer(entry.id)
                text.integer(entry.lastUpdatedMillis)
                text.text(entry.currentSalt)
                text.integer(entry.refreshFromMillis)
                text.text(entry.previousSalt)
                text.integer(entry.currentKey.map { Int64($0.id) })
                text.text(entry.currentKey?.key)
                text.text(entry.currentKey?.salt)
                text.integer(entry.previousKey.map { Int64($0.id) })
                text.text(entry.previousKey?.key)
                text.text(entry.previousKey?.salt)
                text.endRow()
                if text.isFull { try await writer.write(text.take()) }
            }
            if !text.isEmpty { try await writer.write(text.take()) }
        }
        // Nodes holding an older salt version must load the table whole.
        try await execute("UPDATE salt_metadata SET written_in = (SELECT version FROM store_version WHERE id = 2) WHERE id = 1", connection)
    }

    public func addClient(_ client: ClientKey) async throws {
        try await self.withConnection { connection in
            try await self.insertRows(connection, table: "clients", columns: Self.clientColumns, count: 1) { _, binds in
                Self.bind(client, into: &binds)
            }
        }
    }

    public func addSite(_ site: Site, makeKeyset: (_ keysetID: Int32, _ keyID: Int32) -> (Keyset, KeysetKey)) async throws {
        try await transaction { connection in
            try await self.lock(.keys, connection)
            let keysetID = try await self.value(Int32.self, "SELECT GREATEST(COALESCE(MAX(keyset_id), 2), 2) + 1 FROM keysets", connection) ?? 3
            let keyID = try await self.value(Int32.self, "SELECT COALESCE(MAX(id), 0) + 1 FROM keyset_keys", connection) ?? 1
            let (keyset, key) = makeKeyset(keysetID, keyID)
            try await self.insertRows(connection, table: "sites", columns: ["id", "name", "enabled", "domain_names", "app_names", "created"],
                                      count: 1) { _, binds in Self.bind(site, into: &binds) }
            try await self.insertRows(connection, table: "keysets", columns: Self.keysetColumns, count: 1) { _, binds in
                Self.bind(keyset, into: &binds)
            }
            try await self.insertRows(connection, table: "keyset_keys", columns: Self.keyColumns, count: 1) { _, binds in
                Self.bind(key, into: &binds)
            }
        }
    }

    public func updateSite(_ site: Site) async throws {
        try await withConnection { connection in
            try await self.execute("""
                UPDATE sites SET name = \(site.name), enabled = \(Self.flag(site.enabled)), domain_names = \(SQLiteStore.jsonArray(site.domainNames)),
                    app_names = \(SQLiteStore.jsonArray(site.appNames)) WHERE id = \(site.id)
                """, connection)
        }
    }

    public func addKeypair(_ keypair: ClientSideKeypair) async throws {
        try await withConnection { connection in
            try await self.insertRows(connection, table: "client_side_keypairs", columns: Self.keypairColumns, count: 1) { _, binds in
                Self.bind(keypair, into: &binds)
            }
        }
    }

    public func updateClient(_ client: ClientKey) async throws {
        try await self.withConnection { connection in
            try await self.execute("""
                UPDATE clients SET secret = \(Base64.encode(client.secret)), name = \(client.name), contact = \(client.contact),
                    roles = \(SQLiteStore.jsonArray(client.roles.map(\.rawValue).sorted())), disabled = \(Self.flag(client.disabled))
                WHERE key_id = \(client.keyID)
                """, connection)
        }
    }

    public func setKeypairDisabled(subscriptionID: String, disabled: Bool) async throws -> Bool {
        try await withConnection { connection in
            try await !self.rows("""
                UPDATE client_side_keypairs SET disabled = \(Self.flag(disabled)) WHERE subscription_id = \(subscriptionID) RETURNING 1
                """, connection).isEmpty
        }
    }

    public func rotateKey(keysetID: Int32, expireOthersAt: Int64?, makeKey: (_ keyID: Int32) -> KeysetKey) async throws -> KeysetKey {
        try await transaction { connection in
            try await self.lock(.keys, connection)
            guard try await self.value(Int64.self, "SELECT COUNT(*) FROM keysets WHERE keyset_id = \(keysetID)", connection) == 1 else {
                throw StoreError.notFound("keyset \(keysetID)")
            }
            let id = try await self.value(Int32.self, "SELECT COALESCE(MAX(id), 0) + 1 FROM keyset_keys", connection) ?? 1
            let key = makeKey(id)
            if let expireOthersAt {
                try await self.execute("UPDATE keyset_keys SET expires = LEAST(expires, \(expireOthersAt)) WHERE keyset_id = \(keysetID)", connection)
            }
            try await self.insertRows(connection, table: "keyset_keys", columns: Self.keyColumns, count: 1) { _, binds in
                Self.bind(key, into: &binds)
            }
            return key
        }
    }

    public func rotateDueKeys(
        keysetIDs: [Int32], plan: @escaping @Sendable (_ keysetID: Int32, _ keys: [KeysetKey]) -> RotationPolicy.KeyRotation?,
        makeKey: @escaping @Sendable (_ keyID: Int32, _ keysetID: Int32, _ rotation: RotationPolicy.KeyRotation) -> KeysetKey
    ) async throws -> [KeysetKey] {
        // The lock makes check-then-insert atomic across nodes: a node that waited for it plans
        // from the keys the first one committed, and finds nothing due.
        try await transaction { connection in
            try await self.lock(.keys, connection)
            var added = [KeysetKey]()
            for keysetID in keysetIDs {
                let keys = try await self.rows("""
                    SELECT id, keyset_id, created, activates, expires, secret FROM keyset_keys WHERE keyset_id = \(keysetID) ORDER BY id
                    """, connection).compactMap(Self.key)
                guard let rotation = plan(keysetID, keys) else { continue }
                let id = try await self.value(Int32.self, "SELECT COALESCE(MAX(id), 0) + 1 FROM keyset_keys", connection) ?? 1
                try await self.execute("""
                    UPDATE keyset_keys SET expires = LEAST(expires, \(rotation.expireOthersAtSeconds)) WHERE keyset_id = \(keysetID)
                    """, connection)
                let key = makeKey(id, keysetID, rotation)
                try await self.insertRows(connection, table: "keyset_keys", columns: Self.keyColumns, count: 1) { _, binds in
                    Self.bind(key, into: &binds)
                }
                added.append(key)
            }
            return added
        }
    }

    public func rotateSalts(
        nowMillis: Int64, dueBeforeMillis: Int64, skipIfRunSinceMillis: Int64?,
        plan: @escaping @Sendable (_ candidates: [SaltSchedule.Bucket], _ totalBuckets: Int) -> SaltSchedule.Plan
    ) async throws -> SaltRotationOutcome? {
        // The lock makes check-then-rotate atomic across nodes: one that waited for it sees the run recorded.
        try await transaction { connection in
            try await self.lock(.salts, connection)
            if let since = skipIfRunSinceMillis {
                let last = try await self.value(Int64.self, "SELECT updated FROM salt_metadata WHERE id = 1", connection) ?? 0
                guard last < since else { return nil }
            }
            let total = Int(try await self.value(Int64.self, "SELECT COUNT(*) FROM salt_buckets", connection) ?? 0)
            // The version this run brings the salts to, marked on every bucket it changes.
            let next = (try await self.value(Int64.self, "SELECT version FROM store_version WHERE id = 2", connection) ?? 0) + 1
            // One packed row (see `Bulk`): a day's due buckets are a 30th of the table.
            var candidates = [SaltSchedule.Bucket]()
            let rows = try await self.rows(PostgresQuery(unsafeSQL: """
                SELECT string_agg(int4send(position) || int8send(last_updated) || int8send(refresh_from)
                    || int4send((COALESCE(current_salt, '') <> '')::integer), ''::bytea ORDER BY position)
                FROM salt_buckets WHERE refresh_from < $1
                """, binds: Self.binds(dueBeforeMillis)), connection)
            if let blob = try rows.first?.decode(ByteBuffer?.self) {
                try blob.withUnsafeReadableBytes { bytes in
                    var reader = Bulk.Reader(bytes)
                    while !reader.isAtEnd {
                        candidates.append(SaltSchedule.Bucket(
                            position: Int(try reader.int32()), lastUpdatedMillis: try reader.int64(), refreshFromMillis: try reader.int64(),
                            hasSalt: try reader.int32() != 0
                        ))
                    }
                }
            }
            let decided = plan(candidates, total)
            if !decided.rotations.isEmpty {
                let positions = decided.rotations.map { Int32(truncatingIfNeeded: $0.position) }
                let salts = decided.rotations.map { Self.text($0.salt) }
                try await self.execute("""
                    UPDATE salt_buckets AS b SET previous_salt = b.current_salt, current_salt = v.salt, last_updated = \(decided.rotatedAtMillis),
                        refresh_from = \(decided.rotatedRefreshFromMillis), changed_in = \(next)
                    FROM unnest(\(positions)::integer[], \(salts)::text[]) AS v(position, salt) WHERE b.position = v.position
                    """, connection)
            }
            if !decided.reschedules.isEmpty {
                let positions = decided.reschedules.map { Int32(truncatingIfNeeded: $0.position) }
                let refreshFrom = decided.reschedules.map(\.refreshFromMillis)
                try await self.execute("""
                    UPDATE salt_buckets AS b SET refresh_from = v.refresh_from, changed_in = \(next)
                    FROM unnest(\(positions)::integer[], \(refreshFrom)::bigint[]) AS v(position, refresh_from) WHERE b.position = v.position
                    """, connection)
            }
            let dropped = try await self.value(Int64.self, """
                WITH dropped AS (
                    UPDATE salt_buckets SET previous_salt = NULL, previous_key_id = NULL, previous_key = NULL, previous_key_salt = NULL,
                        changed_in = \(next)
                    WHERE last_updated < \(decided.previousSaltsUpdatedBeforeMillis) AND (previous_salt IS NOT NULL OR previous_key IS NOT NULL)
                    RETURNING 1
                )
                SELECT COUNT(*) FROM dropped
                """, connection) ?? 0
            let outcome = SaltRotationOutcome(rotated: decided.rotations.count, rescheduled: decided.reschedules.count,
                                              previousSaltsDropped: Int(dropped), buckets: total)
            // Buckets have no change trigger (a million rows), and `updated` only records the run.
            try await self.execute("UPDATE salt_metadata SET updated = \(nowMillis) WHERE id = 1", connection)
            if outcome.changedAnything {
                try await self.execute("UPDATE store_version SET version = \(next) WHERE id = 2", connection)
            }
            return outcome
        }
    }

    public func saltChanges(after version: Int64) async throws -> SaltChanges? {
        try await readTransaction { connection in
            let current = try await self.value(Int64.self, "SELECT version FROM store_version WHERE id = 2", connection) ?? 0
            guard let writtenIn = try await self.value(Int64.self, "SELECT written_in FROM salt_metadata WHERE id = 1", connection),
                  version >= writtenIn, version <= current
            else { return nil }
            var changes = SaltChanges(version: current, buckets: [])
            // One packed row (see `Bulk`), in the layout `loadSalts` reads, each bucket led by its position.
            let rows = try await self.rows(PostgresQuery(unsafeSQL: """
                SELECT string_agg(int4send(position) || \(Self.packedBucket), ''::bytea ORDER BY position)
                FROM salt_buckets WHERE changed_in > $1
                """, binds: Self.binds(version)), connection)
            guard let blob = try rows.first?.decode(ByteBuffer?.self) else { return changes }
            try blob.withUnsafeReadableBytes { bytes in
                var reader = Bulk.Reader(bytes)
                while !reader.isAtEnd {
                    let position = Int(try reader.int32())
                    changes.buckets.append((position, try Self.readBucket(&reader)))
                }
            }
            return changes
        }
    }

    public func saltTableHeader() async throws -> SaltTableHeader {
        try await readTransaction { connection in
            guard let meta = try await self.rows("SELECT first_level, id_prefix, id_secret FROM salt_metadata WHERE id = 1", connection).first else {
                throw StoreError.notInitialized
            }
            let (firstLevel, idPrefix, idSecret) = try meta.decode((String, String, String).self)
            let count = try await self.value(Int64.self, "SELECT COUNT(*) FROM salt_buckets", connection) ?? 0
            return SaltTableHeader(firstLevelSalt: Array(firstLevel.utf8), idPrefix: idPrefix, idSecret: idSecret, bucketCount: Int(count))
        }
    }

    public func saltBucket(at position: Int) async throws -> SaltTable.Entry? {
        guard let position = Int32(exactly: position) else { return nil }
        return try await withConnection { connection in
            guard let row = try await self.rows("""
                SELECT id, last_updated, refresh_from, current_salt, previous_salt, current_key_id, current_key, current_key_salt,
                       previous_key_id, previous_key, previous_key_salt
                FROM salt_buckets WHERE position = \(position)
                """, connection).first else { return nil }
            let (id, lastUpdated, refreshFrom, current, previous, currentKeyID, currentKey, currentKeySalt, previousKeyID, previousKey, previousKeySalt) =
                try row.decode((Int64, Int64, Int64, String?, String?, Int32?, String?, String?, Int32?, String?, String?).self)
            func material(_ id: Int32?, _ key: String?, _ salt: String?) -> SaltKeyMaterial? {
                guard let id, let key, !key.isEmpty else { return nil }
                return SaltKeyMaterial(id: id, key: Array(key.utf8), salt: Array((salt ?? "").utf8))
            }
            return SaltTable.Entry(
                id: id, lastUpdatedMillis: lastUpdated, refreshFromMillis: refreshFrom,
                currentSalt: current.flatMap { $0.isEmpty ? nil : Array($0.utf8) }, previousSalt: previous.flatMap { $0.isEmpty ? nil : Array($0.utf8) },
                currentKey: material(currentKeyID, currentKey, currentKeySalt), previousKey: material(previousKeyID, previousKey, previousKeySalt)
            )
        }
    }

    /// Durable when it returns: an autocommit statement with the server's default
    /// `synchronous_commit = on`. An FLH already present keeps its row (and id); only a missing
    /// advertising id is filled in. The existing row is looked for first so that a repeated
    /// opt-out does not burn a sequence value (a gap `optOuts(after:)` would wait on); the
    /// `ON CONFLICT` clause covers two nodes inserting the same FLH at once.
    public func recordOptOut(_ record: OptOutRecord) async throws {
        var binds = PostgresBindings(capacity: 3)
        try binds.append(Data(record.firstLevelHash))
        try binds.append(record.advertisingID.map { Data($0) })
        binds.append(record.optedOutSinceSeconds)
        let query = PostgresQuery(unsafeSQL: """
            WITH filled AS (
                UPDATE optouts SET advertising_id = $2::bytea
                WHERE flh = $1 AND advertising_id IS NULL AND $2::bytea IS NOT NULL
                RETURNING id
            )
            INSERT INTO optouts (flh, advertising_id, opted_out_since, recorded_ms)
            SELECT $1, $2::bytea, $3, \(Self.nowMillisSQL)
            WHERE NOT EXISTS (SELECT 1 FROM optouts WHERE flh = $1)
            ON CONFLICT (flh) DO UPDATE SET advertising_id = COALESCE(optouts.advertising_id, EXCLUDED.advertising_id)
            """, binds: binds)
        try await withConnection { connection in try await self.execute(query, connection) }
    }

    /// Adds opt-outs in one transaction, keeping existing records (and the first of duplicates
    /// within `records`); returns how many were new. New rows are stamped with the import time.
    ///
    /// The records are first copied into a temporary table; only then is `optouts` locked
    /// (SHARE ROW EXCLUSIVE: readers go on, other writers wait) for the one INSERT … SELECT and
    /// the commit. Thus no opt-out recorded meanwhile can take a higher id and commit before the
    /// imported ones, which `optOuts(after:)` relies on; `recordOptOut` waits only for that step.
    @discardableResult
    public func importOptOuts(_ records: [OptOutRecord]) async throws -> Int {
        if let bad = records.first(where: { $0.firstLevelHash.count != 32 }) {
            throw ImportRecordError(message: "an opt-out record's first-level hash must be 32 bytes, got \(bad.firstLevelHash.count)")
        }
        guard !records.isEmpty else { return 0 }
        return try await transaction { connection in
            try await self.execute("""
                CREATE TEMPORARY TABLE optout_import (ord INTEGER NOT NULL, flh BYTEA NOT NULL, advertising_id BYTEA, opted_out_since BIGINT NOT NULL)
                ON COMMIT DROP
                """, connection)
            try await connection.copyFrom(table: "optout_import", columns: ["ord", "flh", "advertising_id", "opted_out_since"],
                                          logger: self.logger) { writer in
                var text = Bulk.CopyText()
                for (index, record) in records.enumerated() {
                    text.integer(Int64(index))
                    text.bytea(record.firstLevelHash)
                    text.bytea(record.advertisingID)
                    text.integer(record.optedOutSinceSeconds)
                    text.endRow()
                    if text.isFull { try await writer.write(text.take()) }
                }
                if !text.isEmpty { try await writer.write(text.take()) }
            }
            try await self.execute("LOCK TABLE optouts IN SHARE ROW EXCLUSIVE MODE", connection)
            let added = try await self.value(Int64.self, PostgresQuery(unsafeSQL: """
                WITH inserted AS (
                    INSERT INTO optouts (flh, advertising_id, opted_out_since, recorded_ms)
                    SELECT first.flh, first.advertising_id, first.opted_out_since, \(Self.nowMillisSQL)
                    FROM (SELECT DISTINCT ON (flh) ord, flh, advertising_id, opted_out_since FROM optout_import ORDER BY flh, ord) AS first
                    WHERE NOT EXISTS (SELECT 1 FROM optouts AS o WHERE o.flh = first.flh)
                    ORDER BY first.ord
                    ON CONFLICT (flh) DO NOTHING
                    RETURNING 1
                )
                SELECT COUNT(*) FROM inserted
                """), connection) ?? 0
            return Int(added)
        }
    }

    // MARK: - Row binding

    private static let clientColumns = ["key_id", "key_hash", "key_salt", "secret", "name", "contact", "site_id", "roles", "disabled", "service_id", "created"]
    private static let keysetColumns = ["keyset_id", "site_id", "name", "allowed_sites", "created", "enabled", "is_default"]
    private static let keyColumns = ["id", "keyset_id", "created", "activates", "expires", "secret"]
    private static let keypairColumns = ["subscription_id", "site_id", "public_key", "private_key", "contact", "name", "created", "disabled"]

    private static func bind(_ site: Site, into binds: inout PostgresBindings) {
        binds.append(site.id)
        binds.append(site.name)
        binds.append(flag(site.enabled))
        binds.append(SQLiteStore.jsonArray(site.domainNames))
        binds.append(SQLiteStore.jsonArray(site.appNames))
        binds.append(site.createdSeconds)
    }

    private static func bind(_ client: ClientKey, into binds: inout PostgresBindings) {
        binds.append(client.keyID)
        binds.append(Base64.encode(client.keyHash))
        binds.append(Base64.encode(client.keySalt))
        binds.append(Base64.encode(client.secret))
        binds.append(client.name)
        binds.append(client.contact)
        binds.append(client.siteID)
        binds.append(SQLiteStore.jsonArray(client.roles.map(\.rawValue).sorted()))
        binds.append(flag(client.disabled))
        binds.append(client.serviceID)
        binds.append(client.createdSeconds)
    }

    private static func bind(_ keyset: Keyset, into binds: inout PostgresBindings) {
        binds.append(keyset.id)
        binds.append(keyset.siteID)
        binds.append(keyset.name)
        binds.append(keyset.allowedSites.map(SQLiteStore.jsonArray))
        binds.append(keyset.createdSeconds)
        binds.append(flag(keyset.enabled))
        binds.append(flag(keyset.isDefault))
    }

    private static func bind(_ key: KeysetKey, into binds: inout PostgresBindings) {
        binds.append(key.id)
        binds.append(key.keysetID)
        binds.append(key.createdSeconds)
        binds.append(key.activatesSeconds)
        binds.append(key.expiresSeconds)
        binds.append(Base64.encode(key.secret))
    }

    private static func bind(_ keypair: ClientSideKeypair, into binds: inout PostgresBindings) {
        binds.append(keypair.subscriptionID)
        binds.append(keypair.siteID)
        binds.append(keypair.publicKeyText)
        binds.append(keypair.privateKeyText)
        binds.append(keypair.contact)
        binds.append(keypair.name)
        binds.append(keypair.createdSeconds)
        binds.append(flag(keypair.disabled))
    }

    /// Inserts `count` rows with multi-row INSERTs of as many rows as 65,535 bind parameters allow;
    /// `bind` appends row `index`'s values in `columns` order.
    private func insertRows(
        _ connection: PostgresConnection, table: String, columns: [String], count: Int,
        bind: (_ index: Int, _ binds: inout PostgresBindings) throws -> Void
    ) async throws {
        guard count > 0 else { return }
        let rowsPerStatement = Self.maximumBindParameters / columns.count
        var statement: (rows: Int, sql: String)?
        var start = 0
        while start < count {
            let rows = min(rowsPerStatement, count - start)
            if statement?.rows != rows {
                statement = (rows, Self.insertSQL(table: table, columns: columns, rows: rows))
            }
            var binds = PostgresBindings(capacity: rows * columns.count)
            for index in start..<(start + rows) { try bind(index, &binds) }
            try await connection.query(PostgresQuery(unsafeSQL: statement!.sql, binds: binds), logger: logger)
            start += rows
        }
    }

    static func insertSQL(table: String, columns: [String], rows: Int) -> String {
        var sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES "
        sql.reserveCapacity(sql.utf8.count + rows * columns.count * 8)
        var parameter = 0
        for row in 0..<rows {
            sql += row == 0 ? "(" : ",("
            for column in 0..<columns.count {
                parameter += 1
                if column > 0 { sql += "," }
                sql += "$"
                sql += String(parameter)
            }
            sql += ")"
        }
        return sql
    }

    // MARK: - Column helpers

    private static func binds(_ values: Int64...) -> PostgresBindings {
        var binds = PostgresBindings(capacity: values.count)
        for value in values { binds.append(value) }
        return binds
    }

    /// Flags are INTEGER 0/1, as SQLite stores booleans.
    private static func flag(_ value: Bool) -> Int32 { value ? 1 : 0 }

    private static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    private static func bytes(_ raw: UnsafeRawBufferPointer?) -> [UInt8]? {
        guard let raw, !raw.isEmpty else { return nil }
        return Array(raw)
    }

    private static func material(id: UnsafeRawBufferPointer?, key: UnsafeRawBufferPointer?, salt: UnsafeRawBufferPointer?) -> SaltKeyMaterial? {
        guard let id, id.count == 4, let key, !key.isEmpty else { return nil }
        return SaltKeyMaterial(id: Int32(bigEndian: id.loadUnaligned(as: Int32.self)), key: Array(key), salt: salt.map { Array($0) } ?? [])
    }

    private static func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

public enum PostgresStoreError: Error, CustomStringConvertible {
    case invalidURL(String)
    /// An error from the server or the connection, described without the query's values.
    case database(String)
    /// A bulk row the server sent did not decode.
    case malformedBulkRow

    public var description: String {
        switch self {
        case .invalidURL(let reason): "invalid PostgreSQL URL: \(reason)"
        case .database(let message): "PostgreSQL: \(message)"
        case .malformedBulkRow: "PostgreSQL: a bulk row did not decode"
        }
    }
}

/// Bulk transfer without a PostgresNIO row or bound value per record: its per-row and per-value
/// costs (about 27 µs to iterate a row and 3 µs to bind a value in a debug build) would make a
/// million salt buckets take a minute each way. Reads aggregate many records into one BYTEA per
/// row server-side (`string_agg`), decoded here; writes use COPY in text format.
enum Bulk {
    /// SQL for a nullable BYTEA value as a 4-byte big-endian length (-1 for NULL) and its bytes.
    static func field(_ expression: String) -> String {
        "int4send(COALESCE(length(\(expression)), -1)) || COALESCE(\(expression), ''::bytea)"
    }

    /// Reads records `string_agg` packed: big-endian integers and `field`s.
    struct Reader {
        private let bytes: UnsafeRawBufferPointer
        private var offset = 0

        init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var isAtEnd: Bool { offset >= bytes.count }

        mutating func int64() throws -> Int64 {
            try need(8)
            defer { offset += 8 }
            return Int64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int64.self))
        }

        mutating func int32() throws -> Int32 {
            try need(4)
            defer { offset += 4 }
            return Int32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self))
        }

        /// A `field`: nil for NULL.
        mutating func field() throws -> UnsafeRawBufferPointer? {
            let length = Int(try int32())
            guard length >= 0 else { return nil }
            try need(length)
            defer { offset += length }
            return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
        }

        private func need(_ count: Int) throws {
            guard count <= bytes.count - offset else { throw PostgresStoreError.malformedBulkRow }
        }
    }

    /// Rows for `COPY … FROM STDIN` in text format: tab-separated, `\N` for NULL, backslash escapes.
    struct CopyText {
        private var bytes: [UInt8] = []
        private var atRowStart = true
        static let flushSize = 1 << 20

        init() { bytes.reserveCapacity(Self.flushSize + 4_096) }

        var isEmpty: Bool { bytes.isEmpty }
        var isFull: Bool { bytes.count >= Self.flushSize }

        mutating func take() -> ByteBuffer {
            defer { bytes.removeAll(keepingCapacity: true) }
            return ByteBuffer(bytes: bytes)
        }

        private mutating func separate() {
            if atRowStart { atRowStart = false } else { bytes.append(UInt8(ascii: "\t")) }
        }

        mutating func endRow() {
            bytes.append(UInt8(ascii: "\n"))
            atRowStart = true
        }

        private mutating func null() {
            bytes.append(UInt8(ascii: "\\"))
            bytes.append(UInt8(ascii: "N"))
        }

        mutating func integer(_ value: Int64?) {
            separate()
            guard let value else { return null() }
            bytes.append(contentsOf: String(value).utf8)
        }

        /// A TEXT value from bytes, as SQLite stores them (`String(decoding:as: UTF8.self)`).
        mutating func text(_ value: [UInt8]?) {
            separate()
            guard let value else { return null() }
            var plain = true
            for byte in value where byte < 0x20 || byte >= 0x80 || byte == UInt8(ascii: "\\") {
                plain = false
                break
            }
            if plain { return bytes.append(contentsOf: value) }
            for byte in String(decoding: value, as: UTF8.self).utf8 {
                switch byte {
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                default: bytes.append(byte)
                }
            }
        }

        /// A BYTEA value: `\\x` and hex digits (the backslash escaped for COPY).
        mutating func bytea(_ value: [UInt8]?) {
            separate()
            guard let value else { return null() }
            let digits = Array("0123456789abcdef".utf8)
            bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\"), UInt8(ascii: "x")])
            for byte in value {
                bytes.append(digits[Int(byte >> 4)])
                bytes.append(digits[Int(byte & 0x0f)])
            }
        }
    }
}
