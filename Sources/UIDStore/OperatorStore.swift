import UIDOperatorCore

/// Durable operator state. SQLite is the embedded default; every backend offers the same
/// operations so the server and CLI never know which one they talk to.
public protocol OperatorStore: Sendable {
    /// True when the store holds no operator data yet (a first start).
    func isEmpty() throws -> Bool
    /// Writes a complete initial data set in one transaction.
    func initialize(with contents: StoreContents) throws
    /// Reads everything a snapshot is built from.
    func loadContents() throws -> StoreContents
    func addClient(_ client: ClientKey) throws
    func addSite(_ site: Site) throws
    /// Durable before it returns: an acknowledged opt-out must survive a crash.
    func recordOptOut(firstLevelHash: [UInt8], optedOutSinceSeconds: Int64) throws
}
