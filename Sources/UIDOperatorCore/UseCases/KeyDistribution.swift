import UIDProtocol

/// A key as published to DSPs and sharers (times in epoch seconds).
public struct PublishedKey: Sendable, Equatable {
    public var key: KeysetKey
    /// The keyset id shown to this caller: real for its own keysets, 9999999 for the master
    /// keyset, nil otherwise.
    public var visibleKeysetID: Int32?
    /// The owning keyset's site.
    public var siteID: Int32

    public static func == (lhs: PublishedKey, rhs: PublishedKey) -> Bool {
        lhs.key.id == rhs.key.id && lhs.visibleKeysetID == rhs.visibleKeysetID && lhs.siteID == rhs.siteID
    }
}

/// Domains (and optionally app names) a site may generate tokens for client-side, so DSPs can check
/// client-side-generated tokens.
public struct SiteData: Sendable, Equatable {
    public var id: Int32
    public var domainNames: [String]

    public init(id: Int32, domainNames: [String]) {
        self.id = id
        self.domainNames = domainNames
    }
}

/// `/v2/key/sharing`.
public struct SharingKeys: Sendable {
    public var callerSiteID: Int32
    public var defaultKeysetID: Int32?
    public var tokenExpirySeconds: Int64
    public var maxSharingLifetimeSeconds: Int64
    public var identityScope: IdentityScope
    public var allowClockSkewSeconds: Int64
    public var keys: [PublishedKey]
    public var siteData: [SiteData]?
}

/// `/v2/key/bidstream`.
public struct BidstreamKeys: Sendable {
    public var maxBidstreamLifetimeSeconds: Int64
    public var identityScope: IdentityScope
    public var allowClockSkewSeconds: Int64
    public var keys: [PublishedKey]
    public var siteData: [SiteData]?
}

extension OperatorSnapshot {
    /// SDKs reject tokens whose lifetime exceeds the published maximum; 10 s of tolerance as the reference.
    static let lifetimeToleranceSeconds: Int64 = 10

    /// Keys this caller may see (docs/PROTOCOL.md#key-distribution): never refresh keys; master keys always; others
    /// when the keyset is enabled and belongs to the caller, is open to all ID readers
    /// (`allowed_sites` null), or lists the caller's site. Sorted by id; not filtered by time.
    public func publishedKeys(for client: ClientKey) -> [PublishedKey] {
        let isReader = client.roles.contains(.idReader)
        return keys.allKeys
            .compactMap { key -> PublishedKey? in
                guard let keyset = keys.keysets[key.keysetID], keyset.id != Keyset.refreshKeysetID else { return nil }
                if keyset.id == Keyset.masterKeysetID {
                    return PublishedKey(key: key, visibleKeysetID: Keyset.masterKeysetIDForSDKs, siteID: keyset.siteID)
                }
                guard keyset.enabled else { return nil }
                let own = keyset.siteID == client.siteID
                let allowed = own || (isReader && keyset.allowedSites == nil) || (keyset.allowedSites?.contains(client.siteID) ?? false)
                guard allowed else { return nil }
                return PublishedKey(key: key, visibleKeysetID: own ? keyset.id : nil, siteID: keyset.siteID)
            }
            .sorted { $0.key.id < $1.key.id }
    }

    func siteData(for published: [PublishedKey]) -> [SiteData]? {
        guard config.clientSideTokenGenerate else { return nil }
        let siteIDs = Set(published.map(\.siteID)).sorted()
        return siteIDs.compactMap { id -> SiteData? in
            guard let site = sites[id] else { return nil }
            var names = site.domainNames
            if config.keySharingProvidesAppNames { names += site.appNames }
            guard !names.isEmpty else { return nil }
            return SiteData(id: id, domainNames: Array(Set(names)).sorted())
        }
    }

    private func requireActiveMasterKey(nowMillis: Int64) -> OperatorFailure? {
        keys.activeMasterKey(atSeconds: nowMillis / 1000) == nil ? .noActiveKey : nil
    }

    public func sharingKeys(for client: ClientKey, nowMillis: Int64) -> Result<SharingKeys, OperatorFailure> {
        if let failure = requireActiveMasterKey(nowMillis: nowMillis) { return .failure(failure) }
        let published = publishedKeys(for: client)
        return .success(SharingKeys(
            callerSiteID: client.siteID,
            defaultKeysetID: keys.defaultKeyset(siteID: client.siteID)?.id,
            tokenExpirySeconds: config.sharingTokenExpirySeconds,
            maxSharingLifetimeSeconds: (config.maxSharingLifetimeSeconds ?? config.sharingTokenExpirySeconds) + Self.lifetimeToleranceSeconds,
            identityScope: config.scope,
            allowClockSkewSeconds: config.allowClockSkewSeconds,
            keys: published,
            siteData: siteData(for: published)
        ))
    }

    public func bidstreamKeys(for client: ClientKey, nowMillis: Int64) -> Result<BidstreamKeys, OperatorFailure> {
        if let failure = requireActiveMasterKey(nowMillis: nowMillis) { return .failure(failure) }
        let published = publishedKeys(for: client)
        return .success(BidstreamKeys(
            maxBidstreamLifetimeSeconds: (config.maxBidstreamLifetimeSeconds ?? config.lifetimes.identityTokenExpiresAfterSeconds) + Self.lifetimeToleranceSeconds,
            identityScope: config.scope,
            allowClockSkewSeconds: config.allowClockSkewSeconds,
            keys: published,
            siteData: siteData(for: published)
        ))
    }

    /// Legacy `/v2/key/latest`: only for real participant sites (id > 2).
    public func latestKeys(for client: ClientKey, nowMillis: Int64) -> Result<[PublishedKey], OperatorFailure> {
        guard client.siteID > 2 else { return .failure(OperatorFailure(.invalidClient, "Unexpected client site id \(client.siteID)")) }
        if let failure = requireActiveMasterKey(nowMillis: nowMillis) { return .failure(failure) }
        return .success(publishedKeys(for: client))
    }
}
