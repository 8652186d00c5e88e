import Foundation
import UIDOperatorCore
import UIDProtocol

/// The operator's JSON configuration file. Keys follow the reference's config names so existing
/// settings carry over; every key is optional and flags win over the file.
struct OperatorConfigFile: Decodable {
    var identityScope: String?
    var identityV3: Bool?
    var identityEnvironment: String?
    var identityTokenExpiresAfterSeconds: Int64?
    var refreshTokenExpiresAfterSeconds: Int64?
    var refreshIdentityTokenAfterSeconds: Int64?
    var enablePhoneSupport: Bool?
    var tcfVendorId: Int?
    var identityMapMaxBatchSize: Int?
    var optoutStatusMaxRequestSize: Int?
    var clientSideTokenGenerate: Bool?
    var sharingTokenExpirySeconds: Int64?
    var maxBidstreamLifetimeSeconds: Int64?
    var maxSharingLifetimeSeconds: Int64?
    var allowClockSkewSeconds: Int64?
    var keySharingEndpointProvideAppNames: Bool?
    var rotationEnabled: Bool?
    var rotationCheckIntervalSeconds: Int64?
    var keyRotationIntervalSeconds: Int64?
    var keyActivationLeadSeconds: Int64?
    var keyRotationGraceSeconds: Int64?
    var saltRotationFractionPerDay: Double?
    var saltMinimumAgeDays: Int64?
    var storeSyncIntervalMs: Int?
    var storeReloadSpreadMs: Int?
    var masterKeyExpiresAfterSeconds: Int64?
    var siteKeyExpiresAfterSeconds: Int64?
    var httpIdleTimeoutSeconds: Int64?
    var httpHeaderTimeoutSeconds: Int64?
    var httpBodyTimeoutSeconds: Int64?
    var httpMaxConnections: Int?
    var shutdownGraceSeconds: Int64?
    var maxInFlightRequests: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case identityScope = "identity_scope"
        case identityV3 = "identity_v3"
        case identityEnvironment = "identity_environment"
        case identityTokenExpiresAfterSeconds = "identity_token_expires_after_seconds"
        case refreshTokenExpiresAfterSeconds = "refresh_token_expires_after_seconds"
        case refreshIdentityTokenAfterSeconds = "refresh_identity_token_after_seconds"
        case enablePhoneSupport = "enable_phone_support"
        case tcfVendorId = "tcf_vendor_id"
        case identityMapMaxBatchSize = "identity_map_max_batch_size"
        case optoutStatusMaxRequestSize = "optout_status_max_request_size"
        case clientSideTokenGenerate = "client_side_token_generate"
        case sharingTokenExpirySeconds = "sharing_token_expiry_seconds"
        case maxBidstreamLifetimeSeconds = "max_bidstream_lifetime_seconds"
        case maxSharingLifetimeSeconds = "max_sharing_lifetime_seconds"
        case allowClockSkewSeconds = "allow_clock_skew_seconds"
        case keySharingEndpointProvideAppNames = "key_sharing_endpoint_provide_app_names"
        case rotationEnabled = "rotation_enabled"
        case rotationCheckIntervalSeconds = "rotation_check_interval_seconds"
        case keyRotationIntervalSeconds = "key_rotation_interval_seconds"
        case keyActivationLeadSeconds = "key_activation_lead_seconds"
        case keyRotationGraceSeconds = "key_rotation_grace_seconds"
        case saltRotationFractionPerDay = "salt_rotation_fraction_per_day"
        case saltMinimumAgeDays = "salt_minimum_age_days"
        case storeSyncIntervalMs = "store_sync_interval_ms"
        case storeReloadSpreadMs = "store_reload_spread_ms"
        case masterKeyExpiresAfterSeconds = "master_key_expires_after_seconds"
        case siteKeyExpiresAfterSeconds = "site_key_expires_after_seconds"
        case httpIdleTimeoutSeconds = "http_idle_timeout_seconds"
        case httpHeaderTimeoutSeconds = "http_header_timeout_seconds"
        case httpBodyTimeoutSeconds = "http_body_timeout_seconds"
        case httpMaxConnections = "http_max_connections"
        case shutdownGraceSeconds = "shutdown_grace_seconds"
        case maxInFlightRequests = "max_in_flight_requests"
    }

    static func load(path: String) throws -> OperatorConfigFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CommandFailure("Cannot read the configuration file \(path): \(error.localizedDescription)")
        }
        // A misspelt key would otherwise be ignored silently and its default used.
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CommandFailure("\(path) is not a valid operator configuration: expected one JSON object")
        }
        let known = Swift.Set(CodingKeys.allCases.map(\.rawValue))
        let unknown = object.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw CommandFailure("\(path): unknown setting\(unknown.count == 1 ? "" : "s") \(unknown.map { "\"\($0)\"" }.joined(separator: ", ")) (known: \(known.sorted().joined(separator: ", ")))")
        }
        do {
            return try JSONDecoder().decode(OperatorConfigFile.self, from: data)
        } catch let DecodingError.typeMismatch(_, context) {
            throw CommandFailure("\(path): \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\" has the wrong type (\(context.debugDescription))")
        } catch {
            throw CommandFailure("\(path) is not a valid operator configuration: \(error)")
        }
    }

    func scope() throws -> IdentityScope? {
        guard let identityScope else { return nil }
        guard let scope = IdentityScope(name: identityScope) else { throw CommandFailure("identity_scope must be uid2 or euid") }
        return scope
    }

    func environment() throws -> IdentityEnvironment? {
        guard let identityEnvironment else { return nil }
        guard let environment = IdentityEnvironment(name: identityEnvironment) else {
            throw CommandFailure("identity_environment must be test, integ or prod")
        }
        return environment
    }
}

extension OperatorConfigFile {
    /// `defaults` with this file's settings laid over them: a key the file leaves out keeps its default.
    func applied(to defaults: OperatorConfig) throws -> OperatorConfig {
        var config = defaults
        if let scope = try scope() { config.scope = scope }
        if let environment = try environment() { config.environment = environment }
        if let identityV3 { config.identityV3 = identityV3 }
        if let enablePhoneSupport { config.phoneSupport = enablePhoneSupport }
        if let tcfVendorId { config.tcfVendorID = tcfVendorId }
        if let identityMapMaxBatchSize { config.identityMapMaxBatchSize = identityMapMaxBatchSize }
        if let optoutStatusMaxRequestSize { config.optOutStatusMaxRequestSize = optoutStatusMaxRequestSize }
        if let clientSideTokenGenerate { config.clientSideTokenGenerate = clientSideTokenGenerate }
        if let sharingTokenExpirySeconds { config.sharingTokenExpirySeconds = sharingTokenExpirySeconds }
        if let maxBidstreamLifetimeSeconds { config.maxBidstreamLifetimeSeconds = maxBidstreamLifetimeSeconds }
        if let maxSharingLifetimeSeconds { config.maxSharingLifetimeSeconds = maxSharingLifetimeSeconds }
        if let allowClockSkewSeconds { config.allowClockSkewSeconds = allowClockSkewSeconds }
        if let keySharingEndpointProvideAppNames { config.keySharingProvidesAppNames = keySharingEndpointProvideAppNames }
        if let identityTokenExpiresAfterSeconds { config.lifetimes.identityTokenExpiresAfterSeconds = identityTokenExpiresAfterSeconds }
        if let refreshTokenExpiresAfterSeconds { config.lifetimes.refreshTokenExpiresAfterSeconds = refreshTokenExpiresAfterSeconds }
        if let refreshIdentityTokenAfterSeconds { config.lifetimes.refreshIdentityTokenAfterSeconds = refreshIdentityTokenAfterSeconds }
        return config
    }

    /// `defaults` with this file's background settings laid over them.
    func applied(to defaults: BackgroundSchedule) -> BackgroundSchedule {
        var schedule = defaults
        if let storeSyncIntervalMs { schedule.storeSyncIntervalMillis = storeSyncIntervalMs }
        if let storeReloadSpreadMs { schedule.storeReloadSpreadMillis = storeReloadSpreadMs }
        if let rotationEnabled { schedule.rotationEnabled = rotationEnabled }
        if let rotationCheckIntervalSeconds { schedule.rotationCheckIntervalSeconds = rotationCheckIntervalSeconds }
        return schedule
    }

    func rotationPolicy() throws -> RotationPolicy {
        let defaults = RotationPolicy()
        let policy = RotationPolicy(
            keyIntervalSeconds: keyRotationIntervalSeconds ?? defaults.keyIntervalSeconds,
            activationLeadSeconds: keyActivationLeadSeconds ?? defaults.activationLeadSeconds,
            graceSeconds: keyRotationGraceSeconds ?? defaults.graceSeconds,
            saltFractionPerDay: saltRotationFractionPerDay ?? defaults.saltFractionPerDay,
            saltMinimumAgeDays: saltMinimumAgeDays ?? defaults.saltMinimumAgeDays
        )
        guard policy.keyIntervalSeconds > 0, policy.activationLeadSeconds >= 0, policy.graceSeconds >= 0,
              policy.saltFractionPerDay > 0, policy.saltFractionPerDay <= 1, policy.saltMinimumAgeDays >= 0
        else { throw CommandFailure("rotation settings must be positive (salt_rotation_fraction_per_day in (0, 1])") }
        return policy
    }
}

extension OperatorConfigFile {
    /// Expiry periods of new keys (the reference admin's key names).
    func keyExpiry() throws -> KeyExpiry {
        let expiry = KeyExpiry(
            masterKeyExpiresAfterSeconds: masterKeyExpiresAfterSeconds ?? KeyExpiry.defaultSeconds,
            siteKeyExpiresAfterSeconds: siteKeyExpiresAfterSeconds ?? KeyExpiry.defaultSeconds
        )
        guard expiry.masterKeyExpiresAfterSeconds > 0, expiry.siteKeyExpiresAfterSeconds > 0 else {
            throw CommandFailure("master_key_expires_after_seconds and site_key_expires_after_seconds must be positive")
        }
        return expiry
    }
}
