import Foundation
import GRDB
import UIDOperatorCore
import UIDProtocol

/// Bulk writes: seeding, a core import replacing the store's contents, and opt-out imports.
extension SQLiteStore {
    public func initialize(with contents: StoreContents) throws {
        // An IMMEDIATE transaction: of two processes seeding one file, the second waits for the
        // first's commit and then finds its data.
        try pool.write { db in
            guard try Int.fetchOne(db, sql: StoreSQL.saltTableCount) == 0 else { throw StoreError.alreadyInitialized }
            try Self.write(contents, metadata: SaltMetadataRow(contents.salts), db)
        }
    }

    /// Replaces sites, clients, keysets, keys, salts and client-side key pairs with `contents`, in one
    /// transaction: readers see the old data or the new, never a mix, and a failure leaves the old.
    /// Opt-outs are kept (`contents.optOuts` is ignored): they are identities' decisions, not
    /// part of a participant configuration.
    public func replaceContents(with contents: StoreContents) throws {
        try pool.write { db in
            for table in StoreTable.replacedByImport {
                try db.execute(sql: "DELETE FROM \(table.name)")
            }
            try Self.write(contents, metadata: SaltMetadataRow(importing: contents.salts), db)
        }
    }

    /// Writes everything but the opt-outs into empty tables.
    private static func write(_ contents: StoreContents, metadata: SaltMetadataRow, _ db: Database) throws {
        try insert(contents.sites, db)
        try insert(contents.clients, db)
        try insert(contents.keysets, db)
        // `id` is the rowid, so loadContents returns keys in id order whatever the order here:
        // ties between keys of one keyset activating at the same second are then broken by id,
        // not by file order (docs/PROTOCOL.md#active-key-rule). CoreImport warns when that makes a difference.
        try insert(contents.keys, db)
        try insert(contents.keypairs, db)
        try insert(metadata, db)
        let salts = contents.salts
        try insert((0..<salts.count).lazy.map { SaltBucketRow(position: $0, entry: salts[$0]) }, db)
        try db.execute(sql: StoreSQL.markSaltTableWritten)
    }

    /// Adds opt-out records in one transaction and returns how many identities (FLHs) were new.
    /// An FLH already in the store keeps its row as it is (as does the first of duplicates within
    /// `records`): nodes pick up opt-outs by increasing row id, so changing an existing row would
    /// reach running nodes only at their next full reload. Importing the same records again adds
    /// nothing. New rows are stamped with the import time (`recorded_ms`).
    @discardableResult
    public func importOptOuts(_ records: [OptOutRecord]) throws -> Int {
        try ImportRecordError.check(records)
        let recorded = StoreClock.nowMillis()
        return try pool.write { db in
            let statement = try db.makeStatement(sql: "\(OptOutRow.table.insert(.sqlite)) ON CONFLICT(flh) DO NOTHING")
            var added = 0
            for record in records {
                statement.setUncheckedArguments(Self.arguments(OptOutRow(record, recordedMillis: recorded).storeValues))
                try statement.execute()
                added += db.changesCount
            }
            return added
        }
    }
}
