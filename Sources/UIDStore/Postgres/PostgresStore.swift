import Foundation
import Logging
import PostgresNIO
import UIDOperatorCore
import UIDProtocol

/// The store several operator nodes share: one PostgreSQL database, with the same tables, columns
/// and semantics as `SQLiteStore` (`StoreTable`, `StoreRow`). Its operations are in
/// `PostgresStore+<Concern>.swift`.
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
    let client: PostgresClient
    private let runTask: Task<Void, Never>
    let logger: Logger

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
    static let nowMillisSQL = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
    /// Epoch milliseconds of the start of the current transaction, for judging a row's age against
    /// the snapshot a read sees.
    static let transactionMillisSQL = "(EXTRACT(EPOCH FROM transaction_timestamp()) * 1000)::BIGINT"

    private init(client: PostgresClient, runTask: Task<Void, Never>, logger: Logger) {
        self.client = client
        self.runTask = runTask
        self.logger = logger
    }

    /// Connects to `postgres://user:password@host:port/database` (or `postgresql://`), applies the
    /// schema migrations and returns a ready store. Query parameters: `sslmode`, one of `disable`
    /// (the default), `prefer`, `require` (encrypted, certificate not checked), `verify-ca` or
    /// `verify-full`; `pool_max_connections`, the most connections this node opens (default 20).
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

    /// The pool's configuration for `url` (tests connect with it too).
    static func configuration(url: String) throws -> PostgresClient.Configuration {
        try Settings(url: url).clientConfiguration()
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
