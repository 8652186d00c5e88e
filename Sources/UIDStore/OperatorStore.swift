import UIDOperatorCore
import UIDProtocol

/// Durable operator state. SQLite is the embedded default and PostgreSQL serves several nodes;
/// both offer the same operations, so the server and CLI never know which one they talk to.
/// Everything is async because network databases are; the request path uses only
/// `recordOptOut` (and the background sync the rest).
public protocol OperatorStore: ScheduledRotationStore {
    /// True when the store holds no operator data yet (a first start).
    func isEmpty() async throws -> Bool
    /// Writes a complete initial data set in one transaction; throws `StoreError.alreadyInitialized`
    /// if the store holds data by then (another node seeded it first).
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
    /// Turns a keyset on or off (a disabled keyset encrypts nothing and is published to nobody);
    /// false when there is no such keyset.
    func setKeysetEnabled(keysetID: Int32, enabled: Bool) async throws -> Bool
    /// Who else may download a keyset's keys: nil for every ID reader, [] for nobody, else these
    /// sites; false when there is no such keyset.
    func setKeysetAllowedSites(keysetID: Int32, allowedSites: [Int32]?) async throws -> Bool
    /// Deletes one key, as the reference's admin tooling does to withdraw a key: it no longer
    /// encrypts, decrypts or is published. False when there is no such key.
    func removeKey(id: Int32) async throws -> Bool
    /// The buckets salt runs changed after salt version `version`, and the version they bring a
    /// node to; nil when only a full load can (the table was written whole since: seeding, an import).
    func saltChanges(after version: Int64) async throws -> SaltChanges?
    /// The salt table's secrets and size without its buckets: with `saltBucket(at:)`, enough to
    /// place one identity, for commands that must not load a million buckets.
    func saltTableHeader() async throws -> SaltTableHeader
    func saltBucket(at position: Int) async throws -> SaltTable.Entry?
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

/// What a salt rotation run changed.
public struct SaltRotationOutcome: Sendable, Equatable {
    public var rotated: Int
    /// Due buckets not rotated, moved to their next `refresh_from`.
    public var rescheduled: Int
    /// Buckets whose previous salt was dropped (rotated 90 days ago or more).
    public var previousSaltsDropped: Int
    /// Buckets in the table.
    public var buckets: Int

    public init(rotated: Int, rescheduled: Int, previousSaltsDropped: Int, buckets: Int) {
        self.rotated = rotated
        self.rescheduled = rescheduled
        self.previousSaltsDropped = previousSaltsDropped
        self.buckets = buckets
    }

    public var changedAnything: Bool { rotated + rescheduled + previousSaltsDropped > 0 }
}

/// Salt buckets changed since a version, for a node to apply to the table it holds.
public struct SaltChanges: Sendable {
    public var version: Int64
    public var buckets: [(position: Int, entry: SaltTable.Entry)]

    public init(version: Int64, buckets: [(position: Int, entry: SaltTable.Entry)]) {
        self.version = version
        self.buckets = buckets
    }
}

/// The salt table without its buckets.
public struct SaltTableHeader: Sendable, Equatable {
    public var firstLevelSalt: [UInt8]
    public var idPrefix: String
    public var idSecret: String
    public var bucketCount: Int

    public init(firstLevelSalt: [UInt8], idPrefix: String, idSecret: String, bucketCount: Int) {
        self.firstLevelSalt = firstLevelSalt
        self.idPrefix = idPrefix
        self.idSecret = idSecret
        self.bucketCount = bucketCount
    }
}

/// New opt-outs since a watermark, with when each was recorded (epoch ms) to measure propagation.
public struct OptOutBatch: Sendable {
    public var records: [(record: OptOutRecord, recordedMillis: Int64)]
    public var watermark: Int64
    /// True when asking again now would find nothing more (the batch was not cut at its size
    /// limit), so a poller need not ask: one query per poll instead of two while opt-outs flow.
    public var isLast: Bool

    public init(records: [(record: OptOutRecord, recordedMillis: Int64)], watermark: Int64, isLast: Bool = false) {
        self.records = records
        self.watermark = watermark
        self.isLast = isLast
    }
}


extension OperatorStore {
    /// Sites, clients, keys and key pairs without the large parts (salt buckets, opt-outs), for
    /// administration commands that only list or change configuration.
    public func loadConfiguration() async throws -> StoreContents {
        try await loadState(includingSalts: false, includingOptOuts: false).contents
    }

    /// Places one identity reading only the salt table's header and the bucket it falls in (a
    /// few rows), for commands that derive one identity; nil when the store has no such bucket.
    public func resolve(_ identity: IdentityHash) async throws -> ResolvedIdentity? {
        let header = try await saltTableHeader()
        return try await ResolvedIdentity.resolve(identity, firstLevelSalt: header.firstLevelSalt, bucketCount: header.bucketCount) { position in
            try await saltBucket(at: position)
        }
    }

    /// Everything needed to derive identities, without the opt-out index.
    public func loadIdentityData() async throws -> StoreContents {
        try await loadState(includingSalts: true, includingOptOuts: false).contents
    }
}
