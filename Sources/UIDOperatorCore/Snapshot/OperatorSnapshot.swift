import UIDProtocol

/// Everything a request needs, immutable and in memory. Nodes replace it as a whole when the store
/// changes; requests never wait on the database.
public final class OperatorSnapshot: Sendable {
    public let config: OperatorConfig
    public let keys: KeyRing
    public let salts: SaltTable
    public let clients: ClientDirectory
    public let sites: [Int32: Site]
    public let optOuts: OptOutIndex
    public let testIdentities: TestIdentities

    public init(config: OperatorConfig, keys: KeyRing, salts: SaltTable, clients: [ClientKey], sites: [Site], optOuts: OptOutIndex) {
        self.config = config
        self.keys = keys
        self.salts = salts
        self.clients = ClientDirectory(clients)
        self.sites = Dictionary(sites.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
        self.optOuts = optOuts
        self.testIdentities = TestIdentities(firstLevelSalt: salts.firstLevelSalt)
    }
}
