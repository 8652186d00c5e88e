import Foundation
import GRDB
import UIDOperatorCore
import UIDProtocol

/// The salt table: loading it, salt runs, and reading one bucket.
extension SQLiteStore {
    static func loadSalts(_ db: Database) throws -> SaltTable {
        let count = try Int.fetchOne(db, sql: StoreSQL.bucketCount) ?? 0
        var table = try saltMetadata(db).emptyTable(expectedCount: count)
        let rows = try Row.fetchCursor(db, sql: "\(SaltBucketRow.table.select) ORDER BY position")
        while let row = try rows.next() {
            if let bucket = try SaltBucketRow(reading: row) { table.append(bucket.entry) }
        }
        return table
    }

    static func saltMetadata(_ db: Database) throws -> SaltMetadataRow {
        guard let metadata = try fetch(SaltMetadataRow.self, db, "WHERE id = 1").first else { throw StoreError.notInitialized }
        return metadata
    }

    public func rotateSalts(
        nowMillis: Int64, dueBeforeMillis: Int64, skipIfRunSinceMillis: Int64?,
        plan: @escaping @Sendable (_ candidates: [SaltSchedule.Bucket], _ totalBuckets: Int) -> SaltSchedule.Plan
    ) async throws -> SaltRotationOutcome? {
        // GRDB writes are IMMEDIATE transactions: across processes the check and the run are atomic.
        try await pool.write { db in
            if let since = skipIfRunSinceMillis {
                let last = try Int64.fetchOne(db, sql: StoreSQL.lastSaltRun) ?? 0
                guard last < since else { return nil }
            }
            let total = try Int.fetchOne(db, sql: StoreSQL.bucketCount) ?? 0
            // The version this run brings the salts to, marked on every bucket it changes.
            let next = (try Int64.fetchOne(db, sql: StoreSQL.saltVersion) ?? 0) + 1
            var candidates = [SaltSchedule.Bucket]()
            let rows = try Row.fetchCursor(db, sql: """
                SELECT position, last_updated, refresh_from, current_salt IS NOT NULL AND current_salt != '' FROM salt_buckets
                WHERE refresh_from < ? ORDER BY position
                """, arguments: [dueBeforeMillis])
            while let row = try rows.next() {
                candidates.append(SaltSchedule.Bucket(position: try row.decode(atIndex: 0), lastUpdatedMillis: try row.decode(atIndex: 1),
                                                      refreshFromMillis: try row.decode(atIndex: 2), hasSalt: try row.decode(atIndex: 3)))
            }
            let decided = plan(candidates, total)
            let rotate = try db.makeStatement(sql: """
                UPDATE salt_buckets SET previous_salt = current_salt, current_salt = ?, last_updated = ?, refresh_from = ?, changed_in = ?
                WHERE position = ?
                """)
            for rotation in decided.rotations {
                rotate.setUncheckedArguments(Self.arguments([.utf8(rotation.salt), .int64(decided.rotatedAtMillis), .int64(decided.rotatedRefreshFromMillis),
                                                             .int64(next), .int64(Int64(rotation.position))]))
                try rotate.execute()
            }
            let reschedule = try db.makeStatement(sql: "UPDATE salt_buckets SET refresh_from = ?, changed_in = ? WHERE position = ?")
            for entry in decided.reschedules {
                reschedule.setUncheckedArguments([entry.refreshFromMillis, next, entry.position])
                try reschedule.execute()
            }
            try db.execute(sql: StoreSQL.dropPreviousSalts(.sqlite), arguments: [next, decided.previousSaltsUpdatedBeforeMillis])
            let outcome = SaltRotationOutcome(rotated: decided.rotations.count, rescheduled: decided.reschedules.count,
                                              previousSaltsDropped: db.changesCount, buckets: total)
            // Buckets have no change trigger (a million rows), and `updated` only records the run.
            try db.execute(sql: StoreSQL.setLastSaltRun(.sqlite), arguments: [nowMillis])
            if outcome.changedAnything {
                try db.execute(sql: StoreSQL.setSaltVersion(.sqlite), arguments: [next])
            }
            return outcome
        }
    }

    public func saltTableHeader() async throws -> SaltTableHeader {
        try await pool.read { db in
            let metadata = try Self.saltMetadata(db)
            return SaltTableHeader(firstLevelSalt: metadata.firstLevelSalt, idPrefix: metadata.idPrefix, idSecret: metadata.idSecret,
                                   bucketCount: try Int.fetchOne(db, sql: StoreSQL.bucketCount) ?? 0)
        }
    }

    public func saltBucket(at position: Int) async throws -> SaltTable.Entry? {
        try await pool.read { db in
            try Self.fetch(SaltBucketRow.self, db, "WHERE position = ?", arguments: [position]).first?.entry
        }
    }
}
