import Foundation
import UIDOperatorCore
import UIDProtocol

/// Reading each store of the core format but the salts.
extension CoreImport.Reader {
    mutating func readClients() throws -> [ClientKey] {
        let (_, entries) = try requiredEntries(CoreImport.clientsStore)
        var clients: [ClientKey] = []
        var seen = Set<String>()
        for entry in entries {
            let keyID = try entry.string("key_id")
            let context = entry.with(label: "\(entry.label) (key_id \(keyID))")
            guard seen.insert(keyID).inserted else { throw context.fail("duplicate key_id") }
            let keyHash = try context.base64("key_hash")
            let keySalt = try context.base64("key_salt")
            if keyHash.count != 64 {
                throw context.fail("key_hash must be base64 of a 64-byte SHA-512 hash, got \(keyHash.count) bytes")
            }
            let secret = try context.base64("secret")
            var roles = Set<Role>()
            for text in try context.stringArray("roles") ?? [] {
                let role = Role(parsing: text)
                if role == .unknown {
                    warnings.append("\(context.file) \(context.label): unknown role \"\(text)\" kept as UNKNOWN")
                }
                roles.insert(role)
            }
            guard let client = ClientKey(
                keyID: keyID, keyHash: keyHash, keySalt: keySalt, secret: secret,
                name: try context.optionalString("name") ?? "", contact: try context.optionalString("contact") ?? "",
                siteID: try context.int32("site_id"), roles: roles,
                disabled: try context.bool("disabled", default: false),
                serviceID: try context.optionalInt32("service_id") ?? 0,
                createdSeconds: try context.optionalInt64("created") ?? 0
            ) else {
                throw context.fail("secret must be base64 of 16, 24 or 32 bytes, got \(secret.count) bytes")
            }
            clients.append(client)
        }
        report("clients", clients.count, clients.count)
        return clients
    }

    mutating func readKeysets() throws -> [Keyset] {
        let (file, entries) = try requiredEntries(CoreImport.keysetsStore)
        var keysets: [Keyset] = []
        var seen = Set<Int32>()
        var defaults = [Int32: Int32]()
        for entry in entries {
            let id = try entry.int32("keyset_id")
            let context = entry.with(label: "\(entry.label) (keyset_id \(id))")
            guard seen.insert(id).inserted else { throw context.fail("duplicate keyset_id") }
            let keyset = Keyset(
                id: id, siteID: try context.int32("site_id"), name: try context.optionalString("name") ?? "",
                allowedSites: try context.int32Array("allowed_sites"),
                createdSeconds: try context.optionalInt64("created") ?? 0,
                enabled: try context.bool("enabled", default: false), isDefault: try context.bool("default", default: false)
            )
            if keyset.enabled && keyset.isDefault {
                if let other = defaults[keyset.siteID] {
                    throw CoreImport.Failure(file: file, message: "keysets \(other) and \(id) are both the enabled default keyset of site \(keyset.siteID)")
                }
                defaults[keyset.siteID] = id
            }
            keysets.append(keyset)
        }
        report("keysets", keysets.count, keysets.count)
        return keysets
    }

    mutating func readKeys(keysetIDs: Set<Int32>) throws -> [KeysetKey] {
        let (file, entries) = try requiredEntries(CoreImport.keysetKeysStore)
        var keys: [KeysetKey] = []
        var seen = Set<Int32>()
        var orphans: [Int32] = []
        for entry in entries {
            let id = try entry.int32("id")
            let context = entry.with(label: "\(entry.label) (id \(id))")
            guard seen.insert(id).inserted else { throw context.fail("duplicate key id") }
            let keysetID = try context.int32("keyset_id")
            let secret = try context.base64("secret")
            guard let key = KeysetKey(
                id: id, keysetID: keysetID, createdSeconds: try context.optionalInt64("created") ?? 0,
                activatesSeconds: try context.int64("activates"), expiresSeconds: try context.int64("expires"), secret: secret
            ) else {
                throw context.fail("secret must be base64 of 16, 24 or 32 bytes, got \(secret.count) bytes")
            }
            if !keysetIDs.contains(keysetID) { orphans.append(id) }
            keys.append(key)
        }
        if !orphans.isEmpty {
            warnings.append("\(file): keys \(orphans.map(String.init).joined(separator: ", ")) belong to no known keyset (imported, never used)")
        }
        warnings += Self.activationTieWarnings(keys, file: file)
        report("keyset_keys", keys.count, keys.count)
        return keys
    }

    /// The reference breaks ties between a keyset's keys that activate at the same second by file
    /// order (the last listed wins, docs/PROTOCOL.md#active-key-rule); the SQLite store returns keys by id. Where
    /// the two orders differ the active key can differ, so say so.
    static func activationTieWarnings(_ keys: [KeysetKey], file: String) -> [String] {
        var lastByGroup = [KeyGroup: Int32]()
        var warnings: [String] = []
        for key in keys {
            let group = KeyGroup(keysetID: key.keysetID, activates: key.activatesSeconds)
            if let previous = lastByGroup[group], previous > key.id {
                warnings.append("\(file): keys \(previous) and \(key.id) of keyset \(key.keysetID) activate at the same second and are not listed in id order; the reference prefers the one listed last, this operator's store the higher id (\(previous))")
            }
            lastByGroup[group] = max(lastByGroup[group] ?? key.id, key.id)
        }
        return warnings
    }

    struct KeyGroup: Hashable {
        var keysetID: Int32
        var activates: Int64
    }

    mutating func readSites() throws -> [Site] {
        guard let (_, entries) = try entries(CoreImport.sitesStore) else {
            warnings.append("sites: no sites/metadata.json; no sites imported (client-side generation needs them)")
            return []
        }
        var sites: [Site] = []
        var seen = Set<Int32>()
        for entry in entries {
            let id = try entry.int32("id")
            let context = entry.with(label: "\(entry.label) (id \(id))")
            guard seen.insert(id).inserted else { throw context.fail("duplicate site id") }
            sites.append(Site(
                id: id, name: try context.optionalString("name") ?? "", enabled: try context.bool("enabled", default: false),
                domainNames: try context.stringArray("domain_names") ?? [], appNames: try context.stringArray("app_names") ?? [],
                createdSeconds: try context.optionalInt64("created") ?? 0
            ))
        }
        report("sites", sites.count, sites.count)
        return sites
    }

    mutating func readKeypairs() throws -> [ClientSideKeypair] {
        guard let (_, entries) = try entries(CoreImport.keypairsStore) else {
            warnings.append("client_side_keypairs: no client_side_keypairs/metadata.json; no key pairs imported")
            return []
        }
        var keypairs: [ClientSideKeypair] = []
        var seen = Set<String>()
        for entry in entries {
            let subscription = try entry.string("subscription_id")
            let context = entry.with(label: "\(entry.label) (subscription_id \(subscription))")
            guard seen.insert(subscription).inserted else { throw context.fail("duplicate subscription_id") }
            let publicKey = try context.string("public_key")
            let privateKey = try context.string("private_key")
            guard publicKey.count > 9, Base64.decode(publicKey.dropFirst(9)) != nil else {
                throw context.fail("public_key must be a 9-character prefix (e.g. UID2-X-L-) followed by base64")
            }
            guard let keypair = ClientSideKeypair(
                subscriptionID: subscription, siteID: try context.int32("site_id"),
                publicKeyText: publicKey, privateKeyText: privateKey,
                contact: try context.optionalString("contact") ?? "", name: try context.optionalString("name") ?? "",
                createdSeconds: try context.optionalInt64("created") ?? 0, disabled: try context.bool("disabled", default: false)
            ) else {
                throw context.fail("private_key must be a 9-character prefix (e.g. UID2-Y-L-) followed by a base64 PKCS#8 P-256 key")
            }
            keypairs.append(keypair)
        }
        report("client_side_keypairs", keypairs.count, keypairs.count)
        return keypairs
    }

    mutating func readRuntimeConfig() throws -> CoreImport.RuntimeConfigValues? {
        guard let (file, metadata) = try metadata("runtime_config") else { return nil }
        guard let config = try metadata.optionalObject("runtime_config") else {
            throw CoreImport.Failure(file: file, message: "no \"runtime_config\" object")
        }
        let values = CoreImport.RuntimeConfigValues(
            identityTokenExpiresAfterSeconds: try config.int64("identity_token_expires_after_seconds"),
            refreshTokenExpiresAfterSeconds: try config.int64("refresh_token_expires_after_seconds"),
            refreshIdentityTokenAfterSeconds: try config.int64("refresh_identity_token_after_seconds"),
            sharingTokenExpirySeconds: try config.int64("sharing_token_expiry_seconds"),
            maxBidstreamLifetimeSeconds: try config.optionalInt64("max_bidstream_lifetime_seconds"),
            maxSharingLifetimeSeconds: try config.optionalInt64("max_sharing_lifetime_seconds"),
            identityEnvironment: try config.string("identity_environment")
        )
        guard values.environment != nil else {
            throw config.fail("identity_environment must be test, integ or prod, not \"\(values.identityEnvironment)\"")
        }
        do {
            try values.lifetimes.validate()
        } catch {
            throw config.fail(error.description)
        }
        if let max = values.maxBidstreamLifetimeSeconds, max < values.identityTokenExpiresAfterSeconds {
            throw config.fail("max_bidstream_lifetime_seconds (\(max)) must be at least identity_token_expires_after_seconds (\(values.identityTokenExpiresAfterSeconds))")
        }
        if values.sharingTokenExpirySeconds <= 0 {
            throw config.fail("sharing_token_expiry_seconds must be positive")
        }
        if let max = values.maxSharingLifetimeSeconds, max < values.sharingTokenExpirySeconds {
            throw config.fail("max_sharing_lifetime_seconds (\(max)) must be at least sharing_token_expiry_seconds (\(values.sharingTokenExpirySeconds))")
        }
        report("runtime_config", 1, 1)
        return values
    }
}
