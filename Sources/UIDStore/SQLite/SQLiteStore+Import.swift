import Foundation
import GRDB
import UIDOperatorCore
import UIDProtocol

/// Bulk replacement of the store's contents (a core import) and bulk opt-out import.
extension SQLiteStore {
    /// Replaces sites, clients, keysets, keys, salts and client-side key pairs with `contents`, in one
    /// transaction: readers see the old data or the new, never a mix, and a failure leaves the old.
    /// Opt-outs are kept (`contents.optOuts` is ignored): they are identities' decisions, not part
    /// of a participant configuration.
    public func replaceContents(with contents: StoreContents) throws {
        try pool.write { db in
            for table in ["sites", "clients", "keysets", "keyset_keys", "salt_metadata", "salt_buckets", "client_side_keypairs"] {
                try db.execute(sql: "DELETE FROM \(table)")
            }

            let site = try db.makeStatement(sql: "INSERT INTO sites (id, name, enabled, domain_names, app_names, created) VALUES (?, ?, ?, ?, ?, ?)")
            for value in contents.sites {
                site.setUncheckedArguments([
                    value.id, value.name, value.enabled, Self.jsonArray(value.domainNames), Self.jsonArray(value.appNames), value.createdSeconds,
                ])
                try site.execute()
            }

            let client = try db.makeStatement(sql: """
                INSERT INTO clients (key_id, key_hash, key_salt, secret, name, contact, site_id, roles, disabled, service_id, created)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for value in contents.clients {
                client.setUncheckedArguments([
                    value.keyID, Base64.encode(value.keyHash), Base64.encode(value.keySalt), Base64.encode(value.secret),
                    value.name, value.contact, value.siteID, Self.jsonArray(value.roles.map(\.rawValue).sorted()),
                    value.disabled, value.serviceID, value.createdSeconds,
                ])
                try client.execute()
            }

            let keyset = try db.makeStatement(sql: """
                INSERT INTO keysets (keyset_id, site_id, name, allowed_sites, created, enabled, is_default) VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            for value in contents.keysets {
                keyset.setUncheckedArguments([
                    value.id, value.siteID, value.name, value.allowedSites.map(Self.jsonArray), value.createdSeconds, value.enabled, value.isDefault,
                ])
                try keyset.execute()
            }

            // `id` is the rowid, so loadContents returns keys in id order whatever the order here:
            // ties between keys of one keyset activating at the same second are then broken by id,
            // not by file order (docs/PROTOCOL.md#active-key-rule). CoreImport warns when that makes a difference.
            let key = try db.makeStatement(sql: "INSERT INTO keyset_keys (id, keyset_id, created, activates, expires, secret) VALUES (?, ?, ?, ?, ?, ?)")
            for value in contents.keys {
                key.setUncheckedArguments([
                    value.id, value.keysetID, value.createdSeconds, value.activatesSeconds, value.expiresSeconds, Base64.encode(value.secret),
                ])
                try key.execute()
            }

            let keypair = try db.makeStatement(sql: """
                INSERT INTO client_side_keypairs (subscription_id, site_id, public_key, private_key, contact, name, created, disabled)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for value in contents.keypairs {
                keypair.setUncheckedArguments([
                    value.subscriptionID, value.siteID, value.publicKeyText, value.privateKeyText,
                    value.contact, value.name, value.createdSeconds, value.disabled,
                ])
                try keypair.execute()
            }

            let salts = contents.salts
            // `updated` is the last salt rotation (scheduled rotation waits its interval from it):
            // the newest bucket's, but never in the future (the reference fixture's buckets are
            // dated 2026–2027, which would hold rotation off until then).
            let newestBucket = (0..<salts.count).reduce(Int64(0)) { max($0, salts.lastUpdatedMillis(at: $1)) }
            try db.execute(
                sql: "INSERT INTO salt_metadata (id, first_level, id_prefix, id_secret, updated) VALUES (1, ?, ?, ?, ?)",
                arguments: [Self.importText(salts.firstLevelSalt), salts.idPrefix, salts.idSecret, min(newestBucket, Self.importNowMillis())]
            )
            let bucket = try db.makeStatement(sql: """
                INSERT INTO salt_buckets (position, id, last_updated, current_salt, refresh_from, previous_salt,
                    current_key_id, current_key, current_key_salt, previous_key_id, previous_key, previous_key_salt)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for position in 0..<salts.count {
                let entry = salts[position]
                bucket.setUncheckedArguments([
                    position, entry.id, entry.lastUpdatedMillis, entry.currentSalt.map(Self.importText), entry.refreshFromMillis,
                    entry.previousSalt.map(Self.importText),
                    entry.currentKey?.id, entry.currentKey.map { Self.importText($0.key) }, entry.currentKey.map { Self.importText($0.salt) },
                    entry.previousKey?.id, entry.previousKey.map { Self.importText($0.key) }, entry.previousKey.map { Self.importText($0.salt) },
                ])
                try bucket.execute()
            }
            try Self.markSaltTableWritten(db)
        }
    }

    /// Adds opt-out records in one transaction and returns how many identities (FLHs) were new.
    /// An FLH already in the store keeps its row as it is (as does the first of duplicates within
    /// `records`): nodes pick up opt-outs by increasing row id, so changing an existing row would
    /// reach running nodes only at their next full reload. Importing the same records again adds
    /// nothing. New rows are stamped with the import time (`recorded_ms`).
    @discardableResult
    public func importOptOuts(_ records: [OptOutRecord]) throws -> Int {
        if let bad = records.first(where: { $0.firstLevelHash.count != 32 }) {
            throw ImportRecordError(message: "an opt-out record's first-level hash must be 32 bytes, got \(bad.firstLevelHash.count)")
        }
        let recorded = Self.importNowMillis()
        return try pool.write { db in
            let statement = try db.makeStatement(sql: """
                INSERT INTO optouts (flh, advertising_id, opted_out_since, recorded_ms) VALUES (?, ?, ?, ?)
                ON CONFLICT(flh) DO NOTHING
                """)
            var added = 0
            for record in records {
                statement.setUncheckedArguments([
                    Data(record.firstLevelHash), record.advertisingID.map { Data($0) }, record.optedOutSinceSeconds, recorded,
                ])
                try statement.execute()
                added += db.changesCount
            }
            return added
        }
    }

    /// The store's connection pool. `SQLiteStore.pool` is `private` to its file; until it is made
    /// internal this reads it by reflection (a stored property of a final class, so always there).
    private static func importText(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    private static func importNowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

public struct ImportRecordError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
