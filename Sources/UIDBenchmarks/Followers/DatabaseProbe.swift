import Foundation
import Logging
import PostgresNIO

/// One connection that watches the PostgreSQL server the followers use: the server's CPU time
/// (from `/proc`, the postmaster and its children: the server must run on this machine), its
/// transaction counters, and the connections to a database. It also creates and drops the
/// databases simulations run in.
final class DatabaseProbe: Sendable {
    let connection: PostgresConnection
    let postmaster: Int32
    let logger: Logger

    struct Address {
        var host: String
        var port: Int
        var user: String
        var password: String?
        var database: String

        init(url: String) throws {
            guard let parts = URLComponents(string: url), let user = parts.user else {
                throw BenchmarkFailure("not a postgres://user:password@host:port/database URL: \(url.prefix(16))…")
            }
            host = parts.host ?? "127.0.0.1"
            port = parts.port ?? 5432
            self.user = user
            password = parts.password
            database = String(parts.path.drop { $0 == "/" })
        }

        func url(database: String) -> String {
            var parts = URLComponents()
            parts.scheme = "postgres"
            parts.host = host
            parts.port = port
            parts.user = user
            parts.password = password
            parts.path = "/" + database
            return parts.string ?? ""
        }
    }

    static func connect(url: String, logger: Logger) async throws -> DatabaseProbe {
        let address = try Address(url: url)
        let connection = try await PostgresConnection.connect(
            configuration: .init(host: address.host, port: address.port, username: address.user, password: address.password,
                                 database: address.database, tls: .disable),
            id: 1, logger: logger
        )
        let backend = try await connection.query("SELECT pg_backend_pid()", logger: logger).collect().first?.decode(Int32.self)
        guard let backend, let parent = Self.parent(of: backend) else {
            throw BenchmarkFailure("the PostgreSQL server's processes are not visible in /proc (it must run on this machine)")
        }
        return DatabaseProbe(connection: connection, postmaster: parent, logger: logger)
    }

    private init(connection: PostgresConnection, postmaster: Int32, logger: Logger) {
        self.connection = connection
        self.postmaster = postmaster
        self.logger = logger
    }

    func close() async { try? await connection.close() }

    /// CPU seconds the whole server has used: the postmaster, its live children, and (through the
    /// postmaster's reaped-children counters) those that exited.
    func serverCPUSeconds() -> Double {
        var total = Self.stat(postmaster).map { $0.user + $0.system + $0.childrenUser + $0.childrenSystem } ?? 0
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != postmaster, let stat = Self.stat(pid), stat.parent == postmaster else { continue }
            total += stat.user + stat.system
        }
        return total / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Transactions committed and rolled back in `database` so far (each poll query is one).
    func transactions(database: String) async throws -> Int64 {
        try await value("SELECT (xact_commit + xact_rollback)::BIGINT FROM pg_stat_database WHERE datname = \(database)") ?? 0
    }

    func connections(database: String) async throws -> Int64 {
        try await value("SELECT COUNT(*)::BIGINT FROM pg_stat_activity WHERE datname = \(database)") ?? 0
    }

    /// The on-disk size of the salt rows a run changed: close to what one node's query moves.
    func saltRowBytes(database url: String, changedIn version: Int64) async throws -> (rows: Int64, bytes: Int64) {
        guard let row = try await rows(database: url, """
            SELECT COUNT(*)::BIGINT, COALESCE(SUM(pg_column_size(b.*)), 0)::BIGINT FROM salt_buckets b WHERE changed_in = \(version)
            """).first
        else { return (0, 0) }
        return try row.decode((Int64, Int64).self)
    }

    /// The on-disk size of the rows a configuration reload reads.
    func configurationRowBytes(database url: String) async throws -> Int64 {
        let tables = ["sites", "clients", "keysets", "keyset_keys", "client_side_keypairs"]
        let sum = tables.map { "(SELECT COALESCE(SUM(pg_column_size(t.*)), 0) FROM \($0) t)" }.joined(separator: " + ")
        return try await rows(database: url, PostgresQuery(unsafeSQL: "SELECT (\(sum))::BIGINT")).first?.decode(Int64.self) ?? 0
    }

    /// `query` on a connection of its own to the database at `url`.
    private func rows(database url: String, _ query: PostgresQuery) async throws -> [PostgresRow] {
        let address = try Address(url: url)
        let connection = try await PostgresConnection.connect(
            configuration: .init(host: address.host, port: address.port, username: address.user, password: address.password,
                                 database: address.database, tls: .disable),
            id: 2, logger: logger
        )
        let rows: [PostgresRow]
        do {
            rows = try await connection.query(query, logger: logger).collect()
        } catch {
            try? await connection.close()
            throw error
        }
        try? await connection.close()
        return rows
    }

    func createDatabase(_ name: String) async throws {
        try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: logger)
    }

    func dropDatabase(_ name: String) async {
        _ = try? await connection.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)"), logger: logger)
    }

    private func value(_ query: PostgresQuery) async throws -> Int64? {
        try await connection.query(query, logger: logger).collect().first?.decode(Int64.self)
    }

    private struct Stat {
        var parent: Int32
        var user: Double
        var system: Double
        var childrenUser: Double
        var childrenSystem: Double
    }

    private static func stat(_ pid: Int32) -> Stat? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else { return nil }
        // After the command name: field 3 is the state, 4 the parent, 14–17 utime, stime, cutime, cstime.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 14, let parent = Int32(fields[1]), let user = Double(fields[11]), let system = Double(fields[12]),
              let childrenUser = Double(fields[13]), let childrenSystem = Double(fields[14])
        else { return nil }
        return Stat(parent: parent, user: user, system: system, childrenUser: childrenUser, childrenSystem: childrenSystem)
    }

    private static func parent(of pid: Int32) -> Int32? { stat(pid)?.parent }
}
