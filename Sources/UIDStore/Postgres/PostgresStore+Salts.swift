import Foundation
import PostgresNIO
import UIDOperatorCore
import UIDProtocol

/// The salt table: loading it, salt runs, and reading one bucket. A million buckets travel packed
/// (see `Bulk`).
extension PostgresStore {
    /// Streams the buckets in position order, 65,536 to a row: never a million rows, never all of
    /// them in memory as rows.
    func loadSalts(_ connection: PostgresConnection) async throws -> SaltTable {
        let metadata = try await saltMetadata(connection)
        let count = try await value(Int64.self, PostgresQuery(unsafeSQL: StoreSQL.bucketCount), connection) ?? 0
        var table = metadata.emptyTable(expectedCount: Int(count))
        try await readPacked(PostgresQuery(unsafeSQL: """
            SELECT string_agg(\(Self.packedBucket), ''::bytea ORDER BY position)
            FROM salt_buckets GROUP BY position >> 16 ORDER BY position >> 16
            """), connection) { reader in
            table.append(try Self.readBucket(&reader))
            return true
        }
        return table
    }

    func saltMetadata(_ connection: PostgresConnection) async throws -> SaltMetadataRow {
        guard let metadata = try await fetch(SaltMetadataRow.self, connection, "WHERE id = 1").first else { throw StoreError.notInitialized }
        return metadata
    }

    /// One bucket packed for `string_agg`, read back by `readBucket`.
    static let packedBucket = """
        int8send(id) || int8send(last_updated) || int8send(refresh_from)
            || \(Bulk.field("convert_to(current_salt, 'UTF8')")) || \(Bulk.field("convert_to(previous_salt, 'UTF8')"))
            || \(Bulk.field("int4send(current_key_id)")) || \(Bulk.field("convert_to(current_key, 'UTF8')"))
            || \(Bulk.field("convert_to(current_key_salt, 'UTF8')"))
            || \(Bulk.field("int4send(previous_key_id)")) || \(Bulk.field("convert_to(previous_key, 'UTF8')"))
            || \(Bulk.field("convert_to(previous_key_salt, 'UTF8')"))
        """

    static func readBucket(_ reader: inout Bulk.Reader) throws -> SaltTable.Entry {
        func bytes() throws -> [UInt8]? { try reader.field().map { Array($0) } }
        func keyID() throws -> Int32? {
            guard let raw = try reader.field(), raw.count == 4 else { return nil }
            return Int32(bigEndian: raw.loadUnaligned(as: Int32.self))
        }
        let id = try reader.int64()
        let lastUpdated = try reader.int64()
        let refreshFrom = try reader.int64()
        let current = try bytes()
        let previous = try bytes()
        let currentKey = (try keyID(), try bytes(), try bytes())
        let previousKey = (try keyID(), try bytes(), try bytes())
        return SaltBucketRow.entry(id: id, lastUpdatedMillis: lastUpdated, refreshFromMillis: refreshFrom, currentSalt: current,
                                   previousSalt: previous, currentKey: currentKey, previousKey: previousKey)
    }

    public func rotateSalts(
        nowMillis: Int64, dueBeforeMillis: Int64, skipIfRunSinceMillis: Int64?,
        plan: @escaping @Sendable (_ candidates: [SaltSchedule.Bucket], _ totalBuckets: Int) -> SaltSchedule.Plan
    ) async throws -> SaltRotationOutcome? {
        // The lock makes check-then-rotate atomic across nodes: one that waited for it sees the run recorded.
        try await transaction { connection in
            try await self.lock(.salts, connection)
            if let since = skipIfRunSinceMillis {
                let last = try await self.value(Int64.self, PostgresQuery(unsafeSQL: StoreSQL.lastSaltRun), connection) ?? 0
                guard last < since else { return nil }
            }
            let total = Int(try await self.value(Int64.self, PostgresQuery(unsafeSQL: StoreSQL.bucketCount), connection) ?? 0)
            // The version this run brings the salts to, marked on every bucket it changes.
            let next = (try await self.value(Int64.self, PostgresQuery(unsafeSQL: StoreSQL.saltVersion), connection) ?? 0) + 1
            let decided = plan(try await self.dueBuckets(before: dueBeforeMillis, connection), total)
            if !decided.rotations.isEmpty {
                let positions = decided.rotations.map { Int32(truncatingIfNeeded: $0.position) }
                let salts = decided.rotations.map { String(decoding: $0.salt, as: UTF8.self) }
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
            let dropped = PostgresQuery(
                unsafeSQL: "WITH dropped AS (\(StoreSQL.dropPreviousSalts(.postgres)) RETURNING 1) SELECT COUNT(*) FROM dropped",
                binds: try Self.binds([.int64(next), .int64(decided.previousSaltsUpdatedBeforeMillis)])
            )
            let outcome = SaltRotationOutcome(rotated: decided.rotations.count, rescheduled: decided.reschedules.count,
                                              previousSaltsDropped: Int(try await self.value(Int64.self, dropped, connection) ?? 0), buckets: total)
            // Buckets have no change trigger (a million rows), and `updated` only records the run.
            try await self.execute(StoreSQL.setLastSaltRun(.postgres), [.int64(nowMillis)], connection)
            if outcome.changedAnything {
                try await self.execute(StoreSQL.setSaltVersion(.postgres), [.int64(next)], connection)
            }
            return outcome
        }
    }

    /// The buckets due before `millis`, in one packed row: a day's due buckets are a 30th of the table.
    private func dueBuckets(before millis: Int64, _ connection: PostgresConnection) async throws -> [SaltSchedule.Bucket] {
        var candidates = [SaltSchedule.Bucket]()
        try await readPacked(PostgresQuery(unsafeSQL: """
            SELECT string_agg(int4send(position) || int8send(last_updated) || int8send(refresh_from)
                || int4send((COALESCE(current_salt, '') <> '')::integer), ''::bytea ORDER BY position)
            FROM salt_buckets WHERE refresh_from < $1
            """, binds: try Self.binds([.int64(millis)])), connection) { reader in
            candidates.append(SaltSchedule.Bucket(
                position: Int(try reader.int32()), lastUpdatedMillis: try reader.int64(), refreshFromMillis: try reader.int64(),
                hasSalt: try reader.int32() != 0
            ))
            return true
        }
        return candidates
    }

    public func saltTableHeader() async throws -> SaltTableHeader {
        try await readTransaction { connection in
            let metadata = try await self.saltMetadata(connection)
            let count = try await self.value(Int64.self, PostgresQuery(unsafeSQL: StoreSQL.bucketCount), connection) ?? 0
            return SaltTableHeader(firstLevelSalt: metadata.firstLevelSalt, idPrefix: metadata.idPrefix, idSecret: metadata.idSecret,
                                   bucketCount: Int(count))
        }
    }

    public func saltBucket(at position: Int) async throws -> SaltTable.Entry? {
        guard let position = Int32(exactly: position) else { return nil }
        return try await withConnection { connection in
            try await self.fetch(SaltBucketRow.self, connection, "WHERE position = $1", [.int32(position)]).first?.entry
        }
    }
}
