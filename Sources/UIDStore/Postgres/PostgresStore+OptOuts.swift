import Foundation
import PostgresNIO
import UIDOperatorCore
import UIDProtocol

/// Opt-outs: recording one, reading the index, and the latest records.
extension PostgresStore {
    /// Durable when it returns: an autocommit statement with the server's default
    /// `synchronous_commit = on`. An FLH already present keeps its row (and id); only a missing
    /// advertising id is filled in. The existing row is looked for first so that a repeated
    /// opt-out does not burn a sequence value (a gap `optOuts(after:)` would wait on); the
    /// `ON CONFLICT` clause covers two nodes inserting the same FLH at once.
    public func recordOptOut(_ record: OptOutRecord) async throws {
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
            """, binds: try Self.binds([.blob(record.firstLevelHash), .blob(record.advertisingID), .int64(record.optedOutSinceSeconds)]))
        try await withConnection { connection in try await self.execute(query, connection) }
    }

    public func optOutCount() async throws -> Int {
        try await withConnection { connection in
            Int(try await self.value(Int64.self, PostgresQuery(unsafeSQL: StoreSQL.optOutCount), connection) ?? 0)
        }
    }

    public func recentOptOuts(limit: Int) async throws -> [OptOutRecord] {
        try await withConnection { connection in
            try await self.fetch(OptOutRow.self, connection, "ORDER BY id DESC LIMIT $1", [.int64(Int64(limit))]).map(\.record)
        }
    }

    /// Every opt-out, 65,536 to a packed row (see `Bulk`), read in place into arrays sized by a count first.
    func loadOptOuts(_ connection: PostgresConnection) async throws -> OptOutIndex {
        let count = try await value(Int64.self, PostgresQuery(unsafeSQL: StoreSQL.optOutCount), connection) ?? 0
        var builder = OptOutIndex.Builder(capacity: Int(clamping: count))
        try await readPacked(PostgresQuery(unsafeSQL: """
            SELECT string_agg(int8send(opted_out_since) || \(Bulk.field("flh")) || \(Bulk.field("advertising_id")), ''::bytea)
            FROM optouts GROUP BY id >> 16
            """), connection) { reader in
            let since = try reader.int64()
            let flh = try reader.field()
            let advertisingID = try reader.field()
            builder.append(firstLevelHash: flh, advertisingID: advertisingID, optedOutSinceSeconds: since)
            return true
        }
        return builder.build()
    }
}
