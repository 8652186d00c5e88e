import UIDOperatorCore
import UIDProtocol

/// Durable operator state. SQLite is the embedded default and PostgreSQL serves several nodes;
/// both offer the same operations, so the server and CLI never know which one they talk to.
/// Everything is async because network databases are; the request path uses only
/// `recordOptOut` (and the background sync the rest).
public protocol OperatorStore: Sendable {
    /// True when the store holds no operator data yet (a first start).
    func isEmpty() async throws -> Bool
    /// Writes a complete initial data set in one transaction.
    func initialize(with contents: StoreContents) async throws
    /// Reads everything a snapshot is built from.
    func loadContents() async throws -> StoreContents
    /// Reads configuration, and optionally salts and opt-outs, in one consistent read, with the
    /// markers a node polls to notice later changes. Skipped parts come back empty.
    func loadState(includingSalts: Bool, includingOptOuts: Bool) async throws -> StoreState
    /// Changes whenever sites, clients, keys, key pairs (configuration) or salts change.
    func version() async throws -> StoreVersion
    /// Opt-outs recorded after `watermark`, oldest first, and the new watermark.
    func optOuts(after watermark: Int64) async throws -> OptOutBatch
    func addClient(_ client: ClientKey) async throws
    /// Adds a site with its own default keyset and a first key, built by `makeKeyset` from the
    /// next free keyset and key ids (allocated inside the same transaction).
    func addSite(_ site: Site, makeKeyset: (_ keysetID: Int32, _ keyID: Int32) -> (Keyset, KeysetKey)) async throws
    func updateSite(_ site: Site) async throws
    func loadSites() async throws -> [Site]
    func addKeypair(_ keypair: ClientSideKeypair) async throws
    func updateClient(_ client: ClientKey) async throws
    func setKeypairDisabled(subscriptionID: String, disabled: Bool) async throws -> Bool
    /// Adds a key to a keyset, built by `makeKey` from the next free key id, and sets every
    /// older key of that keyset to expire no later than `expireOthersAt` (epoch seconds).
    func rotateKey(keysetID: Int32, expireOthersAt: Int64?, makeKey: (_ keyID: Int32) -> KeysetKey) async throws -> KeysetKey
    /// Rotates `count` buckets picked at random among those whose `refresh_from` is at or before
    /// `eligibleBeforeMillis` (normally now): the
    /// current salt becomes the previous one. Returns how many were rotated.
    func rotateSalts(count: Int, nowMillis: Int64, eligibleBeforeMillis: Int64, refreshFromMillis: Int64, makeSalt: () -> [UInt8]) async throws -> Int
    /// Scheduled rotation, safe with several nodes: each keyset is checked and rotated inside one
    /// exclusive write, so when nodes race only the first adds a key. `plan` decides from the
    /// keyset's current keys; `makeKey` builds the key from the next free id.
    func rotateDueKeys(
        keysetIDs: [Int32], plan: @escaping @Sendable (_ keysetID: Int32, _ keys: [KeysetKey]) -> RotationPolicy.KeyRotation?,
        makeKey: @escaping @Sendable (_ keyID: Int32, _ keysetID: Int32, _ rotation: RotationPolicy.KeyRotation) -> KeysetKey
    ) async throws -> [KeysetKey]
    /// Rotates salts if the last salt rotation is older than `minimumIntervalMillis`; same race rule.
    func rotateSaltsIfDue(
        minimumIntervalMillis: Int64, count: Int, nowMillis: Int64, refreshFromMillis: Int64, makeSalt: @escaping @Sendable () -> [UInt8]
    ) async throws -> Int
    func optOutCount() async throws -> Int
    /// The most recent opt-outs first.
    func recentOptOuts(limit: Int) async throws -> [OptOutRecord]
    /// Durable before it returns: an acknowledged opt-out must survive a crash.
    func recordOptOut(_ record: OptOutRecord) async throws
    /// Replaces all configuration and salts with `contents` in one transaction (opt-outs stay).
    func replaceContents(with contents: StoreContents) async throws
    /// Adds opt-outs in one transaction, keeping existing records; returns how many were new.
    func importOptOuts(_ records: [OptOutRecord]) async throws -> Int
    /// Settings shared by every node (empty when never set).
    func runtimeSettings() async throws -> RuntimeSettings
    func setRuntimeSettings(_ settings: RuntimeSettings) async throws
}

/// A consistent read of the store.
public struct StoreState: Sendable {
    public var contents: StoreContents
    public var version: StoreVersion
    public var optOutWatermark: Int64
    public var runtimeSettings: RuntimeSettings

    public init(contents: StoreContents, version: StoreVersion, optOutWatermark: Int64, runtimeSettings: RuntimeSettings = RuntimeSettings()) {
        self.runtimeSettings = runtimeSettings
        self.contents = contents
        self.version = version
        self.optOutWatermark = optOutWatermark
    }
}

public struct StoreVersion: Sendable, Equatable, CustomStringConvertible {
    public var configuration: Int64
    public var salts: Int64

    public init(configuration: Int64, salts: Int64) {
        self.configuration = configuration
        self.salts = salts
    }

    public var description: String { "\(configuration).\(salts)" }
}

/// New opt-outs since a watermark, with when each was recorded (epoch ms) to measure propagation.
public struct OptOutBatch: Sendable {
    public var records: [(record: OptOutRecord, recordedMillis: Int64)]
    public var watermark: Int64

    public init(records: [(record: OptOutRecord, recordedMillis: Int64)], watermark: Int64) {
        self.records = records
        self.watermark = watermark
    }
}


extension OperatorStore {
    /// Sites, clients, keys and key pairs without the large parts (salt buckets, opt-outs), for
    /// administration commands that only list or change configuration.
    public func loadConfiguration() async throws -> StoreContents {
        try await loadState(includingSalts: false, includingOptOuts: false).contents
    }

    /// Everything needed to derive identities, without the opt-out index.
    public func loadIdentityData() async throws -> StoreContents {
        try await loadState(includingSalts: true, includingOptOuts: false).contents
    }
}
