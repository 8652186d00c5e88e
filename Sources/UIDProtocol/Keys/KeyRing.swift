@preconcurrency import Crypto

/// One encryption key of a keyset. Times are epoch seconds, as in the store.
public struct KeysetKey: Sendable {
    public let id: Int32
    public let keysetID: Int32
    public let createdSeconds: Int64
    public let activatesSeconds: Int64
    public let expiresSeconds: Int64
    public let secret: [UInt8]
    /// Built once when the snapshot loads, not per request.
    public let symmetricKey: SymmetricKey
    /// The AES-GCM context every token seal and open with this key uses, also prepared at load.
    public let aesGCM: AESGCMKey

    public init?(id: Int32, keysetID: Int32, createdSeconds: Int64, activatesSeconds: Int64, expiresSeconds: Int64, secret: [UInt8]) {
        guard let key = SymmetricKey.aes(secret), let aesGCM = AESGCMKey(secret) else { return nil }
        self.id = id
        self.keysetID = keysetID
        self.createdSeconds = createdSeconds
        self.activatesSeconds = activatesSeconds
        self.expiresSeconds = expiresSeconds
        self.secret = secret
        self.symmetricKey = key
        self.aesGCM = aesGCM
    }
}

public struct Keyset: Sendable, Equatable {
    public static let masterKeysetID: Int32 = -1
    public static let refreshKeysetID: Int32 = -2
    public static let fallbackPublisherKeysetID: Int32 = 2
    public static let masterSiteID: Int32 = -1
    public static let refreshSiteID: Int32 = -2
    public static let fallbackPublisherSiteID: Int32 = 2
    /// What key-download responses call the master keyset.
    public static let masterKeysetIDForSDKs: Int32 = 9_999_999

    public let id: Int32
    public let siteID: Int32
    public let name: String
    public let allowedSites: [Int32]?
    public let createdSeconds: Int64
    public let enabled: Bool
    public let isDefault: Bool

    public init(id: Int32, siteID: Int32, name: String, allowedSites: [Int32]?, createdSeconds: Int64, enabled: Bool, isDefault: Bool) {
        self.id = id
        self.siteID = siteID
        self.name = name
        self.allowedSites = allowedSites
        self.createdSeconds = createdSeconds
        self.enabled = enabled
        self.isDefault = isDefault
    }
}

/// All keysets and keys, indexed for the two questions the request path asks: "which key has this
/// id" (decoding) and "which key is active for this keyset now" (encoding).
public struct KeyRing: Sendable {
    public enum Failure: Error, Sendable, Equatable {
        /// More than one enabled default keyset for a site: the reference refuses to guess.
        case ambiguousDefaultKeyset(siteID: Int32)
    }

    public let keysets: [Int32: Keyset]
    private let keysByID: [Int32: KeysetKey]
    /// Keys of each keyset sorted by activation (stable, so ties keep store order).
    private let keysByKeyset: [Int32: [KeysetKey]]
    private let defaultKeysetBySite: [Int32: Int32]

    public init(keysets: [Keyset], keys: [KeysetKey]) throws(Failure) {
        var keysetMap = [Int32: Keyset]()
        var defaults = [Int32: Int32]()
        for keyset in keysets {
            keysetMap[keyset.id] = keyset
            if keyset.enabled && keyset.isDefault {
                if defaults[keyset.siteID] != nil { throw .ambiguousDefaultKeyset(siteID: keyset.siteID) }
                defaults[keyset.siteID] = keyset.id
            }
        }
        var byID = [Int32: KeysetKey]()
        var grouped = [Int32: [KeysetKey]]()
        for key in keys {
            byID[key.id] = key
            grouped[key.keysetID, default: []].append(key)
        }
        for (keysetID, list) in grouped {
            grouped[keysetID] = list.enumerated()
                .sorted { ($0.element.activatesSeconds, $0.offset) < ($1.element.activatesSeconds, $1.offset) }
                .map(\.element)
        }
        self.keysets = keysetMap
        self.keysByID = byID
        self.keysByKeyset = grouped
        self.defaultKeysetBySite = defaults
    }

    public var allKeys: some Collection<KeysetKey> { keysByID.values }

    public func key(id: Int32) -> KeysetKey? { keysByID[id] }

    /// A key of the refresh keyset, the only keys no participant ever downloads. Refresh tokens and
    /// envelopes open with these alone: a master or site key (which every DSP and sharer holds)
    /// must never mint a refresh token.
    public func refreshKey(id: Int32) -> KeysetKey? {
        guard let key = keysByID[id], key.keysetID == Keyset.refreshKeysetID else { return nil }
        return key
    }

    public func keys(inKeyset keysetID: Int32) -> [KeysetKey] { keysByKeyset[keysetID] ?? [] }

    /// The most recently activated key that has not expired (docs/PROTOCOL.md#active-key-rule).
    public func activeKey(keysetID: Int32, atSeconds now: Int64) -> KeysetKey? {
        guard let keys = keysByKeyset[keysetID] else { return nil }
        var index = keys.endIndex
        while index > keys.startIndex {
            index -= 1
            let key = keys[index]
            if key.activatesSeconds <= now && key.expiresSeconds > now { return key }
        }
        return nil
    }

    public func defaultKeyset(siteID: Int32) -> Keyset? {
        defaultKeysetBySite[siteID].flatMap { keysets[$0] }
    }

    public func activeMasterKey(atSeconds now: Int64) -> KeysetKey? {
        activeKey(keysetID: Keyset.masterKeysetID, atSeconds: now)
    }

    public func activeRefreshKey(atSeconds now: Int64) -> KeysetKey? {
        activeKey(keysetID: Keyset.refreshKeysetID, atSeconds: now)
    }

    /// The site's default-keyset key, or the fallback publisher keyset's (site 2) when the site
    /// has none.
    public func activeSiteKey(siteID: Int32, atSeconds now: Int64) -> KeysetKey? {
        if let keyset = defaultKeyset(siteID: siteID), let key = activeKey(keysetID: keyset.id, atSeconds: now) {
            return key
        }
        guard let fallback = defaultKeyset(siteID: Keyset.fallbackPublisherSiteID) else { return nil }
        return activeKey(keysetID: fallback.id, atSeconds: now)
    }
}
