import UIDProtocol

/// Everything a request needs, immutable and in memory. Nodes replace it as a whole when the store
/// changes; requests never wait on the database.
public final class OperatorSnapshot: Sendable {
    public let config: OperatorConfig
    public let keys: KeyRing
    public let salts: SaltTable
    public let clients: ClientDirectory
    public let sites: [Int32: Site]
    public let keypairs: [String: ClientSideKeypair]
    /// Opt-outs as loaded from the store.
    public let optOuts: OptOutIndex
    /// Opt-outs recorded since: small, so that adding one copies little (see `addingOptOut`).
    public let recentOptOuts: OptOutIndex
    public let testIdentities: TestIdentities
    /// Writes the bucket ids identity map v2 and `/v2/identity/buckets` publish.
    public let bucketIDEncoder: PublicBucketIDEncoder

    public convenience init(
        config: OperatorConfig, keys: KeyRing, salts: SaltTable, clients: [ClientKey], sites: [Site],
        keypairs: [ClientSideKeypair] = [], optOuts: OptOutIndex
    ) {
        self.init(
            config: config, keys: keys, salts: salts, clients: ClientDirectory(clients),
            sites: Dictionary(sites.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last }),
            keypairs: Dictionary(keypairs.map { ($0.subscriptionID, $0) }, uniquingKeysWith: { _, last in last }),
            optOuts: optOuts, recentOptOuts: OptOutIndex(),
            testIdentities: TestIdentities(firstLevelSalt: salts.firstLevelSalt),
            bucketIDEncoder: PublicBucketIDEncoder(prefix: salts.idPrefix, secret: salts.idSecret)
        )
    }

    init(
        config: OperatorConfig, keys: KeyRing, salts: SaltTable, clients: ClientDirectory, sites: [Int32: Site],
        keypairs: [String: ClientSideKeypair], optOuts: OptOutIndex, recentOptOuts: OptOutIndex,
        testIdentities: TestIdentities, bucketIDEncoder: PublicBucketIDEncoder
    ) {
        self.config = config
        self.keys = keys
        self.salts = salts
        self.clients = clients
        self.sites = sites
        self.keypairs = keypairs
        self.optOuts = optOuts
        self.recentOptOuts = recentOptOuts
        self.testIdentities = testIdentities
        self.bucketIDEncoder = bucketIDEncoder
    }

    /// Past this many recent opt-outs, `StoreSync` folds them into the main index on a background
    /// task (`foldingRecentOptOuts`, then `adoptingFoldedOptOuts`).
    public static let recentOptOutLimit = 4_096
    /// Past this many, adding folds the overlay into the main index on the spot. That happens only
    /// when no background fold does (a node without a sync loop, or a catch-up batch in the sync
    /// loop itself): the overlay must stay small, as each single addition copies it.
    static let recentOptOutHardLimit = 4 * recentOptOutLimit

    /// A snapshot that also knows this opt-out. Shares every other part with `self`; copies only
    /// the small overlay of recent opt-outs.
    public func addingOptOut(firstLevelHash: [UInt8], advertisingID: [UInt8]?, optedOutSinceSeconds seconds: Int64) -> OperatorSnapshot {
        addingOptOuts(CollectionOfOne(OptOutRecord(firstLevelHash: firstLevelHash, advertisingID: advertisingID, optedOutSinceSeconds: seconds)))
    }

    /// Many opt-outs at once (a batch the sync loop read), copying the overlay once.
    public func addingOptOuts(_ records: some Sequence<OptOutRecord>) -> OperatorSnapshot {
        var recent = recentOptOuts
        for record in records {
            recent.insert(firstLevelHash: record.firstLevelHash, advertisingID: record.advertisingID, optedOutSinceSeconds: record.optedOutSinceSeconds)
        }
        var base = optOuts
        if recent.recordCount > Self.recentOptOutHardLimit {
            base.merge(recent)
            recent = OptOutIndex()
        }
        return replacingOptOuts(base, recent: recent)
    }

    /// The main index with the recent opt-outs folded in: O(n), for a background task.
    public func foldingRecentOptOuts() -> OptOutIndex {
        optOuts.merging(recentOptOuts)
    }

    /// Takes over `folded`, built by `foldingRecentOptOuts` on `source`: the opt-outs added since
    /// stay in the overlay. Unchanged when the main index is no longer `source`'s (another fold or
    /// a reload came first): the fold is then simply not used.
    public func adoptingFoldedOptOuts(_ folded: OptOutIndex, from source: OperatorSnapshot) -> OperatorSnapshot {
        guard optOuts.isIdentical(to: source.optOuts), recentOptOuts.recordCount >= source.recentOptOuts.recordCount,
              let rest = recentOptOuts.droppingFirst(source.recentOptOuts.recordCount) else { return self }
        return replacingOptOuts(folded, recent: rest)
    }

    private func replacingOptOuts(_ base: OptOutIndex, recent: OptOutIndex) -> OperatorSnapshot {
        OperatorSnapshot(
            config: config, keys: keys, salts: salts, clients: clients, sites: sites, keypairs: keypairs,
            optOuts: base, recentOptOuts: recent, testIdentities: testIdentities, bucketIDEncoder: bucketIDEncoder
        )
    }

    /// This snapshot's configuration over `other`'s opt-outs: a configuration reload is built
    /// without the lock and without re-reading millions of opt-outs, then takes them over here.
    public func keepingOptOuts(of other: OperatorSnapshot) -> OperatorSnapshot {
        replacingOptOuts(other.optOuts, recent: other.recentOptOuts)
    }

    public func optedOutSince(firstLevelHash: [UInt8]) -> Int64? {
        FirstLevelHashKey(firstLevelHash).flatMap { optedOutSince(firstLevelHash: $0) }
    }

    public func optedOutSince(firstLevelHash key: FirstLevelHashKey) -> Int64? {
        optOuts.optedOutSince(firstLevelHash: key) ?? recentOptOuts.optedOutSince(firstLevelHash: key)
    }

    public func optedOutSince(advertisingID: [UInt8]) -> Int64? {
        let values = [optOuts.optedOutSince(advertisingID: advertisingID), recentOptOuts.optedOutSince(advertisingID: advertisingID)].compactMap { $0 }
        return values.min()
    }
}
