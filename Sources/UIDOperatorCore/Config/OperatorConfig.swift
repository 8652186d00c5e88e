import UIDProtocol

/// Token lifetimes in seconds, with the reference's ordering rule
/// `refresh_from ≤ identity_expires ≤ refresh_expires` checked when they are set.
public struct TokenLifetimes: Sendable, Equatable, Codable {
    public var identityTokenExpiresAfterSeconds: Int64
    public var refreshTokenExpiresAfterSeconds: Int64
    public var refreshIdentityTokenAfterSeconds: Int64

    /// The reference's private-operator defaults: 1 day, 30 days, 1 hour.
    public static let privateOperatorDefaults = TokenLifetimes(
        identityTokenExpiresAfterSeconds: 86_400, refreshTokenExpiresAfterSeconds: 2_592_000, refreshIdentityTokenAfterSeconds: 3_600
    )

    public init(identityTokenExpiresAfterSeconds: Int64, refreshTokenExpiresAfterSeconds: Int64, refreshIdentityTokenAfterSeconds: Int64) {
        self.identityTokenExpiresAfterSeconds = identityTokenExpiresAfterSeconds
        self.refreshTokenExpiresAfterSeconds = refreshTokenExpiresAfterSeconds
        self.refreshIdentityTokenAfterSeconds = refreshIdentityTokenAfterSeconds
    }

    public struct OrderingViolation: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    public func validate() throws(OrderingViolation) {
        guard refreshIdentityTokenAfterSeconds > 0 else {
            throw OrderingViolation(description: "refresh_identity_token_after_seconds must be positive")
        }
        guard refreshIdentityTokenAfterSeconds <= identityTokenExpiresAfterSeconds else {
            throw OrderingViolation(description: "refresh_identity_token_after_seconds (\(refreshIdentityTokenAfterSeconds)) must not exceed identity_token_expires_after_seconds (\(identityTokenExpiresAfterSeconds))")
        }
        guard identityTokenExpiresAfterSeconds <= refreshTokenExpiresAfterSeconds else {
            throw OrderingViolation(description: "identity_token_expires_after_seconds (\(identityTokenExpiresAfterSeconds)) must not exceed refresh_token_expires_after_seconds (\(refreshTokenExpiresAfterSeconds))")
        }
    }

    enum CodingKeys: String, CodingKey {
        case identityTokenExpiresAfterSeconds = "identity_token_expires_after_seconds"
        case refreshTokenExpiresAfterSeconds = "refresh_token_expires_after_seconds"
        case refreshIdentityTokenAfterSeconds = "refresh_identity_token_after_seconds"
    }
}

/// How this operator behaves: which ecosystem it serves and how it issues identities.
public struct OperatorConfig: Sendable, Equatable {
    public var scope: IdentityScope
    public var identityV3: Bool
    public var environment: IdentityEnvironment
    public var lifetimes: TokenLifetimes
    public var clockWindow: RequestEnvelope.ClockWindow
    public var phoneSupport: Bool
    /// IAB TCF vendor id whose consent EUID generate requires.
    public var tcfVendorID: Int
    /// Identifiers per identity-map request (v2 and v3); more is a 400.
    public var identityMapMaxBatchSize: Int = 5_000
    /// Advertising ids per opt-out status request; more is a 400.
    public var optOutStatusMaxRequestSize: Int = 5_000
    /// Serves `/v2/token/client-generate` and publishes `site_data` in key responses.
    public var clientSideTokenGenerate: Bool = true
    /// Sharing token lifetime, published to sharers (`token_expiry_seconds`).
    public var sharingTokenExpirySeconds: Int64 = 2_592_000
    /// Published maximum lifetimes; default to the token lifetimes. SDKs reject longer-lived tokens.
    public var maxBidstreamLifetimeSeconds: Int64?
    public var maxSharingLifetimeSeconds: Int64?
    /// Clock skew SDKs tolerate between token creation and their own clock.
    public var allowClockSkewSeconds: Int64 = 1_800
    /// Whether `site_data` also lists app names.
    public var keySharingProvidesAppNames: Bool = false
    /// Requests per second each API key may make (a second's worth may come at once); nil: no limit.
    public var clientRequestsPerSecond: Int?

    public init(
        scope: IdentityScope = .uid2, identityV3: Bool = false, environment: IdentityEnvironment = .test,
        lifetimes: TokenLifetimes = .privateOperatorDefaults, clockWindow: RequestEnvelope.ClockWindow = .reference,
        phoneSupport: Bool = true, tcfVendorID: Int = 21
    ) {
        self.scope = scope
        self.identityV3 = identityV3
        self.environment = environment
        self.lifetimes = lifetimes
        self.clockWindow = clockWindow
        self.phoneSupport = phoneSupport
        self.tcfVendorID = tcfVendorID
    }

    public var rawUIDOptions: RawUIDOptions {
        RawUIDOptions(scope: scope, identityV3: identityV3, environment: environment)
    }
}
