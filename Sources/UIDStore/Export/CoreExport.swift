import Foundation
import UIDOperatorCore
import UIDProtocol

/// Writes a store's configuration and salts in the reference's "core" layout, the one
/// `CoreImport` reads: one folder per store, each with a `metadata.json` naming its data file.
/// Opt-outs are not part of core and are not written. Files are owner-only: they hold secrets.
public enum CoreExport {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The salt snapshot's file name carries its effective time, as the reference's do.
    public static func saltFileName(effectiveMillis: Int64) -> String { "salts.txt.\(effectiveMillis)" }

    /// Writes `contents` into `directory` (created if needed; must not already hold a core layout).
    /// `runtimeConfig`, when given, becomes `runtime_config/metadata.json`.
    public static func write(
        _ contents: StoreContents, runtimeConfig: CoreImport.RuntimeConfigValues?, to directory: URL, nowMillis: Int64
    ) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: directory.appendingPathComponent("clients/metadata.json").path) {
            throw Failure(description: "\(directory.path) already holds a core data set; export into an empty directory")
        }
        try fm.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let generated = nowMillis / 1000

        try writeStore(folder: "clients", metadataKey: "client_keys", generated: generated, in: directory,
                       entries: contents.clients.map(clientEntry))
        try writeStore(folder: "keysets", metadataKey: "keysets", generated: generated, in: directory,
                       entries: contents.keysets.map(keysetEntry))
        try writeStore(folder: "keyset_keys", metadataKey: "keyset_keys", generated: generated, in: directory,
                       entries: contents.keys.map(keyEntry))
        try writeStore(folder: "sites", metadataKey: "sites", generated: generated, in: directory,
                       entries: contents.sites.map(siteEntry))
        try writeStore(folder: "client_side_keypairs", metadataKey: "client_side_keypairs", generated: generated, in: directory,
                       entries: contents.keypairs.map(keypairEntry))
        try writeSalts(contents.salts, generated: generated, effectiveMillis: nowMillis, in: directory)
        if let runtimeConfig {
            try writeFile(json(["version": 1, "runtime_config": runtimeConfigEntry(runtimeConfig)]),
                          to: directory.appendingPathComponent("runtime_config/metadata.json"))
        }
    }

    // MARK: Entries (the reference's field names)

    static func clientEntry(_ client: ClientKey) -> [String: Any] {
        // UNKNOWN stands for a role text this operator could not read; the original text is gone.
        let roles = Role.clientRoles.filter { client.roles.contains($0) }.map(\.rawValue)
        return [
            "key_id": client.keyID, "key_hash": Base64.encode(client.keyHash), "key_salt": Base64.encode(client.keySalt),
            "secret": Base64.encode(client.secret), "name": client.name, "contact": client.contact,
            "created": client.createdSeconds, "roles": roles, "disabled": client.disabled,
            "site_id": client.siteID, "service_id": client.serviceID,
        ]
    }

    static func keysetEntry(_ keyset: Keyset) -> [String: Any] {
        [
            "keyset_id": keyset.id, "site_id": keyset.siteID, "name": keyset.name,
            "allowed_sites": keyset.allowedSites.map { $0 as Any } ?? NSNull(),
            "created": keyset.createdSeconds, "enabled": keyset.enabled, "default": keyset.isDefault,
        ]
    }

    static func keyEntry(_ key: KeysetKey) -> [String: Any] {
        [
            "id": key.id, "keyset_id": key.keysetID, "created": key.createdSeconds, "activates": key.activatesSeconds,
            "expires": key.expiresSeconds, "secret": Base64.encode(key.secret),
        ]
    }

    static func siteEntry(_ site: Site) -> [String: Any] {
        [
            "id": site.id, "name": site.name, "enabled": site.enabled, "domain_names": site.domainNames,
            "app_names": site.appNames, "created": site.createdSeconds,
        ]
    }

    static func keypairEntry(_ keypair: ClientSideKeypair) -> [String: Any] {
        [
            "subscription_id": keypair.subscriptionID, "public_key": keypair.publicKeyText, "private_key": keypair.privateKeyText,
            "site_id": keypair.siteID, "contact": keypair.contact, "name": keypair.name, "created": keypair.createdSeconds,
            "disabled": keypair.disabled,
        ]
    }

    static func runtimeConfigEntry(_ values: CoreImport.RuntimeConfigValues) -> [String: Any] {
        var entry: [String: Any] = [
            "identity_token_expires_after_seconds": values.identityTokenExpiresAfterSeconds,
            "refresh_token_expires_after_seconds": values.refreshTokenExpiresAfterSeconds,
            "refresh_identity_token_after_seconds": values.refreshIdentityTokenAfterSeconds,
            "sharing_token_expiry_seconds": values.sharingTokenExpirySeconds,
            "identity_environment": values.identityEnvironment,
        ]
        if let max = values.maxBidstreamLifetimeSeconds { entry["max_bidstream_lifetime_seconds"] = max }
        if let max = values.maxSharingLifetimeSeconds { entry["max_sharing_lifetime_seconds"] = max }
        return entry
    }

    // MARK: Files

    static func writeStore(folder: String, metadataKey: String, generated: Int64, in directory: URL, entries: [[String: Any]]) throws {
        let dataFile = "\(folder)/\(folder).json"
        try writeFile(json(entries), to: directory.appendingPathComponent(dataFile))
        try writeFile(json(["version": 1, "generated": generated, metadataKey: ["location": dataFile]]),
                      to: directory.appendingPathComponent("\(folder)/metadata.json"))
    }

    /// One CSV line per bucket in the column order `CoreImport.SaltFileParser` documents.
    static func writeSalts(_ salts: SaltTable, generated: Int64, effectiveMillis: Int64, in directory: URL) throws {
        let file = "salts/\(saltFileName(effectiveMillis: effectiveMillis))"
        var csv: [UInt8] = []
        csv.reserveCapacity(salts.count * 120)
        let comma = UInt8(ascii: ",")
        func number(_ value: Int64) { csv += Array(String(value).utf8) }
        func material(_ value: SaltKeyMaterial?) {
            guard let value else { csv += [comma, comma, comma]; return }
            csv.append(comma); number(Int64(value.id))
            csv.append(comma); csv += value.key
            csv.append(comma); csv += value.salt
        }
        for position in 0..<salts.count {
            let entry = salts[position]
            number(entry.id)
            csv.append(comma); number(entry.lastUpdatedMillis)
            csv.append(comma); csv += entry.currentSalt ?? []
            csv.append(comma); number(entry.refreshFromMillis)
            csv.append(comma); csv += entry.previousSalt ?? []
            material(entry.currentKey)
            material(entry.previousKey)
            csv.append(UInt8(ascii: "\n"))
        }
        try writeFile(Data(csv), to: directory.appendingPathComponent(file))
        let metadata: [String: Any] = [
            "version": 1, "generated": generated,
            "first_level": String(decoding: salts.firstLevelSalt, as: UTF8.self),
            "id_prefix": salts.idPrefix, "id_secret": salts.idSecret,
            "salts": [["effective": effectiveMillis, "location": file, "size": salts.count]],
        ]
        try writeFile(json(metadata), to: directory.appendingPathComponent("salts/metadata.json"))
    }

    static func json(_ object: Any) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }

    static func writeFile(_ data: Data, to url: URL) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard fm.createFile(atPath: url.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw Failure(description: "cannot write \(url.path)")
        }
    }
}
