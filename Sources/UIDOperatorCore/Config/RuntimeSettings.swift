import UIDProtocol

/// Settings kept in the store, so every node of a cluster runs with the same ones and changes take
/// effect without restarts. Absent values fall back to the configuration file and defaults;
/// command-line flags of a node still win.
public struct RuntimeSettings: Codable, Equatable, Sendable {
    public var identityTokenExpiresAfterSeconds: Int64?
    public var refreshTokenExpiresAfterSeconds: Int64?
    public var refreshIdentityTokenAfterSeconds: Int64?
    public var sharingTokenExpirySeconds: Int64?
    public var maxBidstreamLifetimeSeconds: Int64?
    public var maxSharingLifetimeSeconds: Int64?
    public var identityScope: String?
    public var identityV3: Bool?
    public var identityEnvironment: String?
    /// Per-API-key request rate; 0 removes the limit.
    public var clientRequestsPerSecond: Int?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case identityTokenExpiresAfterSeconds = "identity_token_expires_after_seconds"
        case refreshTokenExpiresAfterSeconds = "refresh_token_expires_after_seconds"
        case refreshIdentityTokenAfterSeconds = "refresh_identity_token_after_seconds"
        case sharingTokenExpirySeconds = "sharing_token_expiry_seconds"
        case maxBidstreamLifetimeSeconds = "max_bidstream_lifetime_seconds"
        case maxSharingLifetimeSeconds = "max_sharing_lifetime_seconds"
        case identityScope = "identity_scope"
        case identityV3 = "identity_v3"
        case identityEnvironment = "identity_environment"
        case clientRequestsPerSecond = "client_requests_per_second"
    }

    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// `base` with these settings applied; rejects values that break the lifetime ordering or
    /// name an unknown scope or environment.
    public func applied(to base: OperatorConfig) throws(Invalid) -> OperatorConfig {
        var config = base
        if let value = identityTokenExpiresAfterSeconds { config.lifetimes.identityTokenExpiresAfterSeconds = value }
        if let value = refreshTokenExpiresAfterSeconds { config.lifetimes.refreshTokenExpiresAfterSeconds = value }
        if let value = refreshIdentityTokenAfterSeconds { config.lifetimes.refreshIdentityTokenAfterSeconds = value }
        if let value = sharingTokenExpirySeconds { config.sharingTokenExpirySeconds = value }
        if let value = maxBidstreamLifetimeSeconds { config.maxBidstreamLifetimeSeconds = value }
        if let value = maxSharingLifetimeSeconds { config.maxSharingLifetimeSeconds = value }
        if let value = identityV3 { config.identityV3 = value }
        if let name = identityScope {
            guard let scope = IdentityScope(name: name) else { throw Invalid(description: "identity_scope must be uid2 or euid, not \(name)") }
            config.scope = scope
        }
        if let name = identityEnvironment {
            guard let environment = IdentityEnvironment(name: name) else {
                throw Invalid(description: "identity_environment must be test, integ or prod, not \(name)")
            }
            config.environment = environment
        }
        if let rate = clientRequestsPerSecond {
            guard rate >= 0 else { throw Invalid(description: "client_requests_per_second must not be negative") }
            config.clientRequestsPerSecond = rate == 0 ? nil : rate
        }
        do {
            try config.lifetimes.validate()
        } catch {
            throw Invalid(description: error.description)
        }
        if let maximum = config.maxBidstreamLifetimeSeconds, maximum < config.lifetimes.identityTokenExpiresAfterSeconds {
            throw Invalid(description: "max_bidstream_lifetime_seconds must not be below identity_token_expires_after_seconds")
        }
        guard config.sharingTokenExpirySeconds > 0 else { throw Invalid(description: "sharing_token_expiry_seconds must be positive") }
        return config
    }

    /// These settings with `other`'s non-nil values laid over them.
    public func merging(_ other: RuntimeSettings) -> RuntimeSettings {
        var merged = self
        merged.identityTokenExpiresAfterSeconds = other.identityTokenExpiresAfterSeconds ?? identityTokenExpiresAfterSeconds
        merged.refreshTokenExpiresAfterSeconds = other.refreshTokenExpiresAfterSeconds ?? refreshTokenExpiresAfterSeconds
        merged.refreshIdentityTokenAfterSeconds = other.refreshIdentityTokenAfterSeconds ?? refreshIdentityTokenAfterSeconds
        merged.sharingTokenExpirySeconds = other.sharingTokenExpirySeconds ?? sharingTokenExpirySeconds
        merged.maxBidstreamLifetimeSeconds = other.maxBidstreamLifetimeSeconds ?? maxBidstreamLifetimeSeconds
        merged.maxSharingLifetimeSeconds = other.maxSharingLifetimeSeconds ?? maxSharingLifetimeSeconds
        merged.identityScope = other.identityScope ?? identityScope
        merged.identityV3 = other.identityV3 ?? identityV3
        merged.identityEnvironment = other.identityEnvironment ?? identityEnvironment
        merged.clientRequestsPerSecond = other.clientRequestsPerSecond ?? clientRequestsPerSecond
        return merged
    }
}
