import Foundation
import PostgresNIO
import UIDOperatorCore
import UIDProtocol

/// What nodes poll to notice changes: the versions, a load with its markers, the salt buckets
/// changed since a version, and opt-outs recorded since a watermark.
extension PostgresStore {
    public func version() async throws -> StoreVersion {
        try await withConnection { connection in try await self.version(connection) }
    }

    func version(_ connection: PostgresConnection) async throws -> StoreVersion {
        StoreVersion(counters: try await rows(PostgresQuery(unsafeSQL: StoreSQL.versions), connection).map { row in
            let (id, version) = try row.decode((Int32, Int64).self)
            return (Int(id), version)
        })
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

    public func saltChanges(after version: Int64) async throws -> SaltChanges? {
        try await readTransaction { connection in
            let current = try await self.value(Int64.self, PostgresQuery(unsafeSQL: StoreSQL.saltVersion), connection) ?? 0
            guard let writtenIn = try await self.value(Int64.self, PostgresQuery(unsafeSQL: StoreSQL.saltWrittenIn), connection),
                  version >= writtenIn, version <= current
            else { return nil }
            var changes = SaltChanges(version: current, buckets: [])
            // One packed row (see `Bulk`), in the layout `loadSalts` reads, each bucket led by its position.
            try await self.readPacked(PostgresQuery(unsafeSQL: """
                SELECT string_agg(int4send(position) || \(Self.packedBucket), ''::bytea ORDER BY position)
                FROM salt_buckets WHERE changed_in > $1
                """, binds: try Self.binds([.int64(version)])), connection) { reader in
                let position = Int(try reader.int32())
                changes.buckets.append((position, try Self.readBucket(&reader)))
                return true
            }
            return changes
        }
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
            var stoppedAtGap = false
            // One row holding the whole batch (see `Bulk`).
            try await self.readPacked(PostgresQuery(unsafeSQL: """
                SELECT string_agg(int8send(id) || int8send(opted_out_since) || int8send(recorded_ms)
                    || int4send((recorded_ms > \(Self.transactionMillisSQL) - \(Self.optOutCommitGraceMillis))::integer)
                    || \(Bulk.field("flh")) || \(Bulk.field("advertising_id")), ''::bytea ORDER BY id)
                FROM (SELECT * FROM optouts WHERE id > $1 ORDER BY id LIMIT \(Self.optOutBatchLimit)) AS batch
                """, binds: try Self.binds([.int64(watermark)])), connection) { reader in
                let id = try reader.int64()
                let since = try reader.int64()
                let recorded = try reader.int64()
                let young = try reader.int32() != 0
                let flh = try reader.field()
                let advertisingID = try reader.field()
                if id != batch.watermark + 1 && young {
                    stoppedAtGap = true
                    return false
                }
                batch.records.append((OptOutRecord(firstLevelHash: flh.map { Array($0) } ?? [], advertisingID: advertisingID.map { Array($0) },
                                                   optedOutSinceSeconds: since), recorded))
                batch.watermark = id
                return true
            }
            // Cut by a young gap, the rest waits for the next poll anyway.
            batch.isLast = stoppedAtGap || batch.records.count < Self.optOutBatchLimit
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
        try await readPacked(PostgresQuery(unsafeSQL: """
            SELECT string_agg(int8send(id) || int4send((recorded_ms > \(Self.transactionMillisSQL) - \(Self.optOutCommitGraceMillis))::integer),
                              ''::bytea ORDER BY id)
            FROM optouts WHERE id > $1
            """, binds: try Self.binds([.int64(settled)])), connection) { reader in
            let id = try reader.int64()
            let young = try reader.int32() != 0
            if id != watermark + 1 && young { return false }
            watermark = id
            return true
        }
        return watermark
    }
}
