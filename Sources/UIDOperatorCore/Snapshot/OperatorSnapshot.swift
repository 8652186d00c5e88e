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
    let bucketIDEncoder: Hashids

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
            bucketIDEncoder: Hashids(salt: salts.idSecret, minLength: 9)
        )
    }

    private init(
        config: OperatorConfig, keys: KeyRing, salts: SaltTable, clients: ClientDirectory, sites: [Int32: Site],
        keypairs: [String: ClientSideKeypair], optOuts: OptOutIndex, recentOptOuts: OptOutIndex,
        testIdentities: TestIdentities, bucketIDEncoder: Hashids
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

    /// Folding into the main index copies it, so it happens only once the overlay is this large.
    static let recentOptOutLimit = 4_096

    /// A snapshot that also knows this opt-out. Shares every other part with `self`.
    public func addingOptOut(firstLevelHash: [UInt8], advertisingID: [UInt8]?, optedOutSinceSeconds seconds: Int64) -> OperatorSnapshot {
        var recent = recentOptOuts
        recent.insert(firstLevelHash: firstLevelHash, advertisingID: advertisingID, optedOutSinceSeconds: seconds)
        var base = optOuts
        if recent.count > Self.recentOptOutLimit {
            base.merge(recent)
            recent = OptOutIndex()
        }
        return OperatorSnapshot(
            config: config, keys: keys, salts: salts, clients: clients, sites: sites, keypairs: keypairs,
            optOuts: base, recentOptOuts: recent, testIdentities: testIdentities, bucketIDEncoder: bucketIDEncoder
        )
    }

    /// This snapshot's configuration over `other`'s opt-outs: a configuration reload is built
    /// without the lock and without re-reading millions of opt-outs, then takes them over here.
    public func keepingOptOuts(of other: OperatorSnapshot) -> OperatorSnapshot {
        OperatorSnapshot(
            config: config, keys: keys, salts: salts, clients: clients, sites: sites, keypairs: keypairs,
            optOuts: other.optOuts, recentOptOuts: other.recentOptOuts, testIdentities: testIdentities, bucketIDEncoder: bucketIDEncoder
        )
    }

    public func optedOutSince(firstLevelHash: [UInt8]) -> Int64? {
        optOuts.optedOutSince(firstLevelHash: firstLevelHash) ?? recentOptOuts.optedOutSince(firstLevelHash: firstLevelHash)
    }

    public func optedOutSince(advertisingID: [UInt8]) -> Int64? {
        let values = [optOuts.optedOutSince(advertisingID: advertisingID), recentOptOuts.optedOutSince(advertisingID: advertisingID)].compactMap { $0 }
        return values.min()
    }
}
