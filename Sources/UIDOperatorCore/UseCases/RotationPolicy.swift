import UIDProtocol

/// When keys and salts rotate. Pure decisions, so every node computes the same plan and the store
/// makes exactly one of them act on it (docs/PROTOCOL.md#active-key-rule, docs/PROTOCOL.md#salt-rotation).
public struct RotationPolicy: Sendable, Equatable {
    /// A keyset gets a new key once its newest key is this old.
    public var keyIntervalSeconds: Int64
    /// New keys are published this long before they encrypt anything, so SDKs that refresh keys
    /// hourly hold them first.
    public var activationLeadSeconds: Int64
    /// Extra time older keys stay valid beyond the longest-lived token they may have encrypted.
    public var graceSeconds: Int64
    /// Fraction of salt buckets rotated per day (the reference: about 1/365).
    public var saltFractionPerDay: Double
    /// Days since its last rotation before a due bucket may rotate again (see `SaltSchedule`).
    public var saltMinimumAgeDays: Int64

    public init(keyIntervalSeconds: Int64 = 86_400, activationLeadSeconds: Int64 = 3_600, graceSeconds: Int64 = 3_600,
                saltFractionPerDay: Double = 1.0 / 365, saltMinimumAgeDays: Int64 = 30) {
        self.keyIntervalSeconds = keyIntervalSeconds
        self.activationLeadSeconds = activationLeadSeconds
        self.graceSeconds = graceSeconds
        self.saltFractionPerDay = saltFractionPerDay
        self.saltMinimumAgeDays = saltMinimumAgeDays
    }

    /// A key to add to a keyset, and the time by which its older keys expire.
    public struct KeyRotation: Sendable, Equatable {
        public var activatesSeconds: Int64
        public var expireOthersAtSeconds: Int64
        public var expiresSeconds: Int64
    }

    /// Whether `keys` (one keyset's) need a new key at `now`, and its times. Older keys live until
    /// every token encrypted under them has expired: `tokenLifetimeSeconds` (advertising tokens for
    /// master and site keys, refresh tokens for the refresh keyset) plus the grace period.
    public func dueRotation(keys: [KeysetKey], nowSeconds now: Int64, tokenLifetimeSeconds: Int64) -> KeyRotation? {
        let newest = keys.map(\.activatesSeconds).max()
        if let newest, newest + keyIntervalSeconds > now + activationLeadSeconds { return nil }
        let activates = max(now + activationLeadSeconds, newest.map { $0 + keyIntervalSeconds } ?? now)
        let retireAt = activates + tokenLifetimeSeconds + graceSeconds
        // A new key must outlive the next rotation by the same margin.
        return KeyRotation(activatesSeconds: activates, expireOthersAtSeconds: retireAt,
                           expiresSeconds: activates + keyIntervalSeconds + tokenLifetimeSeconds + graceSeconds)
    }

    /// `dueRotation` for keyset `keysetID`, whose keys protect tokens as long-lived as
    /// `tokenLifetimeSeconds(keysetID:config:)` says.
    public func dueRotation(keysetID: Int32, keys: [KeysetKey], nowSeconds now: Int64, config: OperatorConfig) -> KeyRotation? {
        dueRotation(keys: keys, nowSeconds: now, tokenLifetimeSeconds: Self.tokenLifetimeSeconds(keysetID: keysetID, config: config))
    }

    /// The longest a token encrypted under a key of `keysetID` lives: refresh tokens for the refresh
    /// keyset, advertising tokens (bidstream maximum included) for the master keyset, and for site
    /// keysets also sharing tokens, which they encrypt too.
    public static func tokenLifetimeSeconds(keysetID: Int32, config: OperatorConfig) -> Int64 {
        let advertising = max(config.lifetimes.identityTokenExpiresAfterSeconds, config.maxBidstreamLifetimeSeconds ?? 0)
        return switch keysetID {
        case Keyset.refreshKeysetID: config.lifetimes.refreshTokenExpiresAfterSeconds
        case Keyset.masterKeysetID: advertising
        default: max(advertising, config.maxSharingLifetimeSeconds ?? config.sharingTokenExpirySeconds)
        }
    }

    /// The salt rotation schedule these settings describe.
    public var saltSchedule: SaltSchedule {
        SaltSchedule(fractionPerDay: saltFractionPerDay, minimumAgeDays: saltMinimumAgeDays)
    }
}
