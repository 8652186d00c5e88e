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

extension OperatorSnapshot {
    public convenience init(config: OperatorConfig, contents: StoreContents) throws(KeyRing.Failure) {
        self.init(
            config: config, keys: try KeyRing(keysets: contents.keysets, keys: contents.keys), salts: contents.salts,
            clients: contents.clients, sites: contents.sites, keypairs: contents.keypairs, optOuts: contents.optOuts
        )
    }
}
