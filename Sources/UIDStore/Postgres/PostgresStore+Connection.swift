import Foundation
import Logging
import PostgresNIO
import UIDOperatorCore

/// Connections, transactions, and reading and writing `StoreRow`s.
extension PostgresStore {
    /// Runs `body` on a pooled connection. Database errors come out as
    /// `PostgresStoreError.database` with the server's message: PostgresNIO's own errors describe
    /// themselves only as "PSQLError – Generic description…".
    func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in try await body(connection) }
        } catch let error as PSQLError {
            throw PostgresStoreError.database(Self.describe(error))
        }
    }

    /// Runs `body` in one transaction on one pooled connection: committed when it returns,
    /// rolled back (and its error rethrown as is) when it throws.
    func transaction<T: Sendable>(_ begin: String = "BEGIN", _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await withConnection { connection in
            try await Self.inTransaction(connection, begin, logger: self.logger, body)
        }
    }

    static func inTransaction<T: Sendable>(
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
    func readTransaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    /// A pooled connection, for tests that look at the tables directly.
    func withTestConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await withConnection(body)
    }

    func lock(_ lock: Lock, _ connection: PostgresConnection) async throws {
        try await connection.query("SELECT pg_advisory_xact_lock(\(lock.rawValue))", logger: logger)
    }

    func execute(_ query: PostgresQuery, _ connection: PostgresConnection) async throws {
        try await connection.query(query, logger: logger)
    }

    /// `sql` with `values` bound to its parameters.
    func execute(_ sql: String, _ values: [StoreValue], _ connection: PostgresConnection) async throws {
        try await connection.query(PostgresQuery(unsafeSQL: sql, binds: try Self.binds(values)), logger: logger)
    }

    func rows(_ query: PostgresQuery, _ connection: PostgresConnection) async throws -> [PostgresRow] {
        try await connection.query(query, logger: logger).collect()
    }

    /// The first column of the first row.
    func value<T: PostgresDecodable>(_ type: T.Type, _ query: PostgresQuery, _ connection: PostgresConnection) async throws -> T? {
        guard let row = try await rows(query, connection).first else { return nil }
        return try row.decode(T.self)
    }

    /// Reads records packed server-side (see `Bulk`): each row of `query` holds many in its one
    /// BYTEA column (NULL for none). `record` reads one and returns false to stop reading.
    func readPacked(_ query: PostgresQuery, _ connection: PostgresConnection, _ record: (inout Bulk.Reader) throws -> Bool) async throws {
        var more = true
        for try await row in try await connection.query(query, logger: logger) {
            guard more, let packed = try row.decode(ByteBuffer?.self) else { continue }
            try packed.withUnsafeReadableBytes { bytes in
                var reader = Bulk.Reader(bytes)
                while more, !reader.isAtEnd { more = try record(&reader) }
            }
        }
    }

    /// Every row of `R`'s table that makes a model, with `suffix` (a WHERE or ORDER BY) appended.
    func fetch<R: StoreRow>(
        _ type: R.Type, _ connection: PostgresConnection, _ suffix: String = "", _ values: [StoreValue] = []
    ) async throws -> [R] {
        try await rows(PostgresQuery(unsafeSQL: "\(R.table.select) \(suffix)", binds: try Self.binds(values)), connection)
            .compactMap { try R(reading: $0.makeRandomAccess()) }
    }

    /// Inserts `rows` with multi-row INSERTs of as many rows as 65,535 bind parameters allow.
    func insert<R: StoreRow>(_ rows: [R], _ connection: PostgresConnection) async throws {
        let columns = R.table.columns.count
        let rowsPerStatement = Self.maximumBindParameters / columns
        var sql = ""
        var sqlRows = 0
        var start = 0
        while start < rows.count {
            let count = min(rowsPerStatement, rows.count - start)
            if sqlRows != count {
                sql = R.table.insert(rows: count, .postgres)
                sqlRows = count
            }
            var binds = PostgresBindings(capacity: count * columns)
            for row in rows[start..<(start + count)] {
                for value in row.storeValues { try binds.append(value) }
            }
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
            start += count
        }
    }

    func insert(_ row: some StoreRow, _ connection: PostgresConnection) async throws {
        try await insert([row], connection)
    }

    /// Updates the row's `updatable` columns.
    func update<R: StoreRow>(_ row: R, _ connection: PostgresConnection) async throws {
        try await execute(R.table.update(.postgres), row.updateValues, connection)
    }

    static func binds(_ values: [StoreValue]) throws -> PostgresBindings {
        var binds = PostgresBindings(capacity: values.count)
        for value in values { try binds.append(value) }
        return binds
    }
}

extension PostgresBindings {
    mutating func append(_ value: StoreValue) throws {
        switch value {
        case .int32(let value): append(value)
        case .int64(let value): append(value)
        case .text(let value): append(value)
        case .utf8(let value): append(value.map { String(decoding: $0, as: UTF8.self) })
        case .blob(let value): try append(value.map { Data($0) })
        }
    }
}

extension PostgresRandomAccessRow: StoreRowReader {
    func int32(_ column: Int) throws -> Int32? { try self[column].decode(Int32?.self) }
    func int64(_ column: Int) throws -> Int64? { try self[column].decode(Int64?.self) }
    func text(_ column: Int) throws -> String? { try self[column].decode(String?.self) }
    func blob(_ column: Int) throws -> [UInt8]? { try self[column].decode(Data?.self).map { Array($0) } }
}
