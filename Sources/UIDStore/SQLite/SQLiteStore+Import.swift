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
        try importWriter().write { db in
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
            // not by file order (PROTOCOL.md 4.9). CoreImport warns when that makes a difference.
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
            try db.execute(
                sql: "INSERT INTO salt_metadata (id, first_level, id_prefix, id_secret) VALUES (1, ?, ?, ?)",
                arguments: [Self.importText(salts.firstLevelSalt), salts.idPrefix, salts.idSecret]
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
        }
    }

    /// Adds opt-out records in one transaction and returns how many identities (FLHs) were new.
    /// An FLH already present keeps its row, with two refinements that never lose information:
    /// the earlier opt-out time wins (as `OptOutIndex` and the reference's status index do), and a
    /// missing advertising id is filled in. Importing the same records again changes nothing.
    @discardableResult
    public func importOptOuts(_ records: [OptOutRecord]) throws -> Int {
        try importWriter().write { db in
            let before = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM optouts") ?? 0
            let statement = try db.makeStatement(sql: """
                INSERT INTO optouts (flh, advertising_id, opted_out_since) VALUES (?, ?, ?)
                ON CONFLICT(flh) DO UPDATE SET
                    advertising_id = COALESCE(optouts.advertising_id, excluded.advertising_id),
                    opted_out_since = MIN(optouts.opted_out_since, excluded.opted_out_since)
                WHERE optouts.advertising_id IS NULL AND excluded.advertising_id IS NOT NULL
                   OR excluded.opted_out_since < optouts.opted_out_since
                """)
            for record in records {
                guard record.firstLevelHash.count == 32 else {
                    throw ImportRecordError(message: "an opt-out record's first-level hash must be 32 bytes, got \(record.firstLevelHash.count)")
                }
                statement.setUncheckedArguments([
                    Data(record.firstLevelHash), record.advertisingID.map { Data($0) }, record.optedOutSinceSeconds,
                ])
                try statement.execute()
            }
            let after = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM optouts") ?? 0
            return after - before
        }
    }

    /// The store's connection pool. `SQLiteStore.pool` is `private` to its file; until it is made
    /// internal this reads it by reflection (a stored property of a final class, so always there).
    private func importWriter() throws -> DatabasePool {
        for child in Mirror(reflecting: self).children where child.label == "pool" {
            if let pool = child.value as? DatabasePool { return pool }
        }
        throw ImportRecordError(message: "SQLiteStore has no database pool")
    }

    private static func importText(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
}

public struct ImportRecordError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
