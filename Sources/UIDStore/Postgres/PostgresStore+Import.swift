import Foundation
import PostgresNIO
import UIDOperatorCore
import UIDProtocol

/// Bulk writes: seeding, a core import replacing the store's contents, and opt-out imports.
extension PostgresStore {
    public func initialize(with contents: StoreContents) async throws {
        let metadata = SaltMetadataRow(contents.salts)
        try await transaction { connection in
            // Two nodes seeding an empty database at once: the second finds the first's data.
            try await self.lock(.keys, connection)
            try await self.lock(.salts, connection)
            guard try await self.value(Int64.self, PostgresQuery(unsafeSQL: StoreSQL.saltTableCount), connection) == 0 else {
                throw StoreError.alreadyInitialized
            }
            try await self.write(contents, metadata: metadata, connection)
        }
    }

    /// Replaces sites, clients, keysets, keys, salts and client-side key pairs with `contents` in
    /// one transaction (readers see the old data or the new); opt-outs are kept. As
    /// `SQLiteStore.replaceContents`.
    public func replaceContents(with contents: StoreContents) async throws {
        let metadata = SaltMetadataRow(importing: contents.salts)
        try await transaction { connection in
            try await self.lock(.keys, connection)
            try await self.lock(.salts, connection)
            // DELETE, not TRUNCATE: TRUNCATE is not MVCC-safe for concurrent snapshot readers.
            for table in StoreTable.replacedByImport {
                try await self.execute(PostgresQuery(unsafeSQL: "DELETE FROM \(table.name)"), connection)
            }
            try await self.write(contents, metadata: metadata, connection)
        }
    }

    /// Writes everything but the opt-outs into empty tables.
    private func write(_ contents: StoreContents, metadata: SaltMetadataRow, _ connection: PostgresConnection) async throws {
        try await insert(contents.sites, connection)
        try await insert(contents.clients, connection)
        try await insert(contents.keysets, connection)
        try await insert(contents.keys, connection)
        try await insert(contents.keypairs, connection)
        try await insert(metadata, connection)
        // COPY, not INSERTs: PostgresNIO spends microseconds on each bound value (tens of seconds
        // for a million buckets in a debug build); COPY's text is built here in one pass.
        let salts = contents.salts
        try await connection.copyFrom(table: SaltBucketRow.table.name, columns: SaltBucketRow.table.columns, logger: logger) { writer in
            var text = Bulk.CopyText()
            for position in 0..<salts.count {
                text.row(SaltBucketRow(position: position, entry: salts[position]).storeValues)
                if text.isFull { try await writer.write(text.take()) }
            }
            if !text.isEmpty { try await writer.write(text.take()) }
        }
        try await execute(PostgresQuery(unsafeSQL: StoreSQL.markSaltTableWritten), connection)
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
        try ImportRecordError.check(records)
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
                    text.row([.int64(Int64(index)), .blob(record.firstLevelHash), .blob(record.advertisingID), .int64(record.optedOutSinceSeconds)])
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
}
