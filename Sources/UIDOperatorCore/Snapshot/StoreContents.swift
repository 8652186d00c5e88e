import UIDProtocol

/// Everything an operator's store holds, as plain values: what a snapshot is built from and
/// what a first start writes.
public struct StoreContents: Sendable {
    public var sites: [Site]
    public var clients: [ClientKey]
    public var keysets: [Keyset]
    public var keys: [KeysetKey]
    public var salts: SaltTable
    public var optOuts: OptOutIndex
    public var keypairs: [ClientSideKeypair]

    public init(sites: [Site], clients: [ClientKey], keysets: [Keyset], keys: [KeysetKey], salts: SaltTable, optOuts: OptOutIndex, keypairs: [ClientSideKeypair] = []) {
        self.keypairs = keypairs
        self.sites = sites
        self.clients = clients
        self.keysets = keysets
        self.keys = keys
        self.salts = salts
        self.optOuts = optOuts
    }
}

/// Store contents no request could be served from: refused when loading, so that a node keeps its
/// previous snapshot (or does not start) instead of failing on every request.
public enum SnapshotFailure: Error, Sendable, Equatable {
    case keys(KeyRing.Failure)
    /// Every identity hashes into some bucket: an empty salt table cannot place any.
    case noSaltBuckets
}

extension OperatorSnapshot {
    public convenience init(config: OperatorConfig, contents: StoreContents) throws(SnapshotFailure) {
        guard contents.salts.count > 0 else { throw .noSaltBuckets }
        let keys: KeyRing
        do { keys = try KeyRing(keysets: contents.keysets, keys: contents.keys) } catch { throw .keys(error) }
        self.init(
            config: config, keys: keys, salts: contents.salts,
            clients: contents.clients, sites: contents.sites, keypairs: contents.keypairs, optOuts: contents.optOuts
        )
    }
}
