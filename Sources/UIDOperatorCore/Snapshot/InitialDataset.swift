import UIDProtocol

/// A client's credentials as shown once to the person who created it.
public struct ClientCredentials: Sendable, Codable, Equatable {
    public var keyID: String
    public var apiKey: String
    public var secret: String
    public var siteID: Int32
    public var roles: [String]

    enum CodingKeys: String, CodingKey {
        case keyID = "key_id", apiKey = "api_key", secret, siteID = "site_id", roles
    }
}

/// What an operator needs on its first start, generated fresh: master, refresh and fallback
/// publisher keysets, a site with its own keyset, a client holding every role, a first-level salt
/// and a full table of rotating salt buckets.
public enum InitialDataset {
    public static let bucketCount = 1 << 20
    public static let defaultSiteID: Int32 = 999

    public static func generate(
        scope: IdentityScope, environment: IdentityEnvironment, nowMillis: Int64, bucketCount: Int = bucketCount,
        keyExpiry: KeyExpiry = .default
    ) -> (contents: StoreContents, credentials: ClientCredentials) {
        let now = nowMillis / 1000
        let site = Site(id: defaultSiteID, name: "Default site", createdSeconds: now)
        let keysets = [
            Keyset(id: Keyset.masterKeysetID, siteID: Keyset.masterSiteID, name: "Master keyset", allowedSites: nil, createdSeconds: now, enabled: true, isDefault: true),
            Keyset(id: Keyset.refreshKeysetID, siteID: Keyset.refreshSiteID, name: "Refresh keyset", allowedSites: nil, createdSeconds: now, enabled: true, isDefault: true),
            Keyset(id: Keyset.fallbackPublisherKeysetID, siteID: Keyset.fallbackPublisherSiteID, name: "Fallback publisher keyset", allowedSites: nil, createdSeconds: now, enabled: true, isDefault: true),
            siteKeyset(siteID: site.id, keysetID: 3, nowSeconds: now),
        ]
        let keys = keysets.enumerated().map { index, keyset in newKey(id: Int32(index + 1), keysetID: keyset.id, nowSeconds: now, expiry: keyExpiry) }
        let (client, credentials) = newClient(
            scope: scope, environment: environment, siteID: site.id, roles: Role.clientRoles, name: "Default client", nowSeconds: now
        )
        let contents = StoreContents(
            sites: [site], clients: [client], keysets: keysets, keys: keys,
            salts: newSaltTable(count: bucketCount, nowMillis: nowMillis), optOuts: OptOutIndex()
        )
        return (contents, credentials)
    }

    /// A site's default keyset. `allowed_sites` null: every DSP (ID_READER) may decrypt the site's
    /// tokens; sharers of other sites need to be listed explicitly.
    public static func siteKeyset(siteID: Int32, keysetID: Int32, nowSeconds: Int64) -> Keyset {
        Keyset(id: keysetID, siteID: siteID, name: "Site \(siteID) default keyset", allowedSites: nil, createdSeconds: nowSeconds, enabled: true, isDefault: true)
    }

    /// A key that is active at once and expires after `expiry`'s period for its keyset.
    public static func newKey(id: Int32, keysetID: Int32, nowSeconds: Int64, expiry: KeyExpiry = .default) -> KeysetKey {
        newKey(id: id, keysetID: keysetID, createdSeconds: nowSeconds, activatesSeconds: nowSeconds,
               expiresSeconds: expiry.expiresSeconds(keysetID: keysetID, activatesSeconds: nowSeconds))
    }

    /// A key with a fresh 32-byte secret: every new key (seeding, `keys rotate`, scheduled rotation) is made here.
    public static func newKey(id: Int32, keysetID: Int32, createdSeconds: Int64, activatesSeconds: Int64, expiresSeconds: Int64) -> KeysetKey {
        // 32 random bytes are always an AES key, so the initializer cannot fail here.
        KeysetKey(id: id, keysetID: keysetID, createdSeconds: createdSeconds, activatesSeconds: activatesSeconds,
                  expiresSeconds: expiresSeconds, secret: APIKeyHasher.randomBytes(32))!
    }

    /// A client with fresh key, salt and secret; the plaintext key exists only in the credentials.
    public static func newClient(
        scope: IdentityScope, environment: IdentityEnvironment, siteID: Int32, roles: [Role], name: String, nowSeconds: Int64
    ) -> (ClientKey, ClientCredentials) {
        let (apiKey, keyID) = APIKeyHasher.generateKey(scope: scope, environment: environment, siteID: siteID)
        let salt = APIKeyHasher.randomBytes(32)
        let secret = APIKeyHasher.randomBytes(32)
        let client = ClientKey(
            keyID: keyID, keyHash: APIKeyHasher.hash(key: apiKey, salt: salt), keySalt: salt, secret: secret,
            name: name, contact: name, siteID: siteID, roles: Set(roles), disabled: false, createdSeconds: nowSeconds
        )!
        let credentials = ClientCredentials(
            keyID: keyID, apiKey: apiKey, secret: Base64.encode(secret), siteID: siteID, roles: roles.map(\.rawValue)
        )
        return (client, credentials)
    }

    /// Fresh salts (`SaltSchedule.newSalt`, the first-level salt and the bucket-id secret too), with
    /// rotation times laid out by `SaltSchedule.seededTimes`.
    public static func newSaltTable(count: Int, nowMillis: Int64) -> SaltTable {
        var generator = SecureRandom.Generator()
        var table = SaltTable(
            firstLevelSalt: SaltSchedule.newSalt(using: &generator), idPrefix: "b",
            idSecret: String(decoding: SaltSchedule.newSalt(using: &generator), as: UTF8.self), expectedCount: count
        )
        for index in 0..<count {
            let times = SaltSchedule.seededTimes(position: index, nowMillis: nowMillis)
            table.append(SaltTable.Entry(
                id: Int64(index + 1), lastUpdatedMillis: times.lastUpdatedMillis, refreshFromMillis: times.refreshFromMillis,
                currentSalt: SaltSchedule.newSalt(using: &generator)
            ))
        }
        return table
    }
}
