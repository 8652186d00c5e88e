import UIDOperatorCore
import UIDProtocol

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
    /// Adds a site with its own default keyset and a first key, built by `makeKeyset` from the
    /// next free keyset and key ids (allocated inside the same transaction).
    func addSite(_ site: Site, makeKeyset: (_ keysetID: Int32, _ keyID: Int32) -> (Keyset, KeysetKey)) throws
    func updateSite(_ site: Site) throws
    func loadSites() throws -> [Site]
    func addKeypair(_ keypair: ClientSideKeypair) throws
    /// Durable before it returns: an acknowledged opt-out must survive a crash.
    func recordOptOut(_ record: OptOutRecord) async throws
}
