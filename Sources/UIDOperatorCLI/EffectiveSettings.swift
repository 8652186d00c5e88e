import Foundation
import UIDOperatorCore
import UIDProtocol
import UIDServer

/// The settings a node would use, each with where its value comes from (for `config show`).
enum EffectiveSettings {
    enum Source: String {
        case store, file, `default`
        /// The scope of the store's own data (its clients' key prefixes).
        case storeData = "store data"
    }

    struct Entry {
        let key: String
        let value: Any
        let source: Source

        var text: String {
            switch value {
            case let number as Double: String(number)
            default: "\(value)"
            }
        }

        var jsonValue: Any { value }
    }

    static func entries(stored: RuntimeSettings, file: OperatorConfigFile, storeScope: IdentityScope?) -> [Entry] {
        let defaults = OperatorConfig()
        let rotation = RotationPolicy()
        let schedule = BackgroundSchedule()
        func pick<T>(_ key: String, _ store: T?, _ fromFile: T?, _ fallback: T) -> Entry {
            if let store { return Entry(key: key, value: store, source: .store) }
            if let fromFile { return Entry(key: key, value: fromFile, source: .file) }
            return Entry(key: key, value: fallback, source: .default)
        }
        // Unset maximums follow the lifetimes in effect.
        let identityLifetime = stored.identityTokenExpiresAfterSeconds ?? file.identityTokenExpiresAfterSeconds ?? defaults.lifetimes.identityTokenExpiresAfterSeconds
        let sharingLifetime = stored.sharingTokenExpirySeconds ?? file.sharingTokenExpirySeconds ?? defaults.sharingTokenExpirySeconds
        var scope = pick("identity_scope", stored.identityScope, file.identityScope, defaults.scope.name)
        if scope.source == .default, let storeScope { scope = Entry(key: "identity_scope", value: storeScope.name, source: .storeData) }
        return [
            scope,
            pick("identity_environment", stored.identityEnvironment, file.identityEnvironment, defaults.environment.name),
            pick("identity_v3", stored.identityV3, file.identityV3, defaults.identityV3),
            pick("identity_token_expires_after_seconds", stored.identityTokenExpiresAfterSeconds, file.identityTokenExpiresAfterSeconds,
                 defaults.lifetimes.identityTokenExpiresAfterSeconds),
            pick("refresh_token_expires_after_seconds", stored.refreshTokenExpiresAfterSeconds, file.refreshTokenExpiresAfterSeconds,
                 defaults.lifetimes.refreshTokenExpiresAfterSeconds),
            pick("refresh_identity_token_after_seconds", stored.refreshIdentityTokenAfterSeconds, file.refreshIdentityTokenAfterSeconds,
                 defaults.lifetimes.refreshIdentityTokenAfterSeconds),
            pick("sharing_token_expiry_seconds", stored.sharingTokenExpirySeconds, file.sharingTokenExpirySeconds, defaults.sharingTokenExpirySeconds),
            pick("max_bidstream_lifetime_seconds", stored.maxBidstreamLifetimeSeconds, file.maxBidstreamLifetimeSeconds,
                 identityLifetime),
            pick("max_sharing_lifetime_seconds", stored.maxSharingLifetimeSeconds, file.maxSharingLifetimeSeconds, sharingLifetime),
            pick("client_requests_per_second", stored.clientRequestsPerSecond, Int?.none, 0),
            pick("enable_phone_support", nil, file.enablePhoneSupport, defaults.phoneSupport),
            pick("tcf_vendor_id", nil, file.tcfVendorId, defaults.tcfVendorID),
            pick("identity_map_max_batch_size", nil, file.identityMapMaxBatchSize, defaults.identityMapMaxBatchSize),
            pick("optout_status_max_request_size", nil, file.optoutStatusMaxRequestSize, defaults.optOutStatusMaxRequestSize),
            pick("client_side_token_generate", nil, file.clientSideTokenGenerate, defaults.clientSideTokenGenerate),
            pick("allow_clock_skew_seconds", nil, file.allowClockSkewSeconds, defaults.allowClockSkewSeconds),
            pick("key_sharing_endpoint_provide_app_names", nil, file.keySharingEndpointProvideAppNames, defaults.keySharingProvidesAppNames),
            pick("store_sync_interval_ms", nil, file.storeSyncIntervalMs, schedule.storeSyncIntervalMillis),
            pick("store_reload_spread_ms", nil, file.storeReloadSpreadMs, schedule.storeReloadSpreadMillis),
            pick("rotation_enabled", nil, file.rotationEnabled, schedule.rotationEnabled),
            pick("rotation_check_interval_seconds", nil, file.rotationCheckIntervalSeconds, schedule.rotationCheckIntervalSeconds),
            pick("key_rotation_interval_seconds", nil, file.keyRotationIntervalSeconds, rotation.keyIntervalSeconds),
            pick("key_activation_lead_seconds", nil, file.keyActivationLeadSeconds, rotation.activationLeadSeconds),
            pick("key_rotation_grace_seconds", nil, file.keyRotationGraceSeconds, rotation.graceSeconds),
            pick("salt_rotation_fraction_per_day", nil, file.saltRotationFractionPerDay, rotation.saltFractionPerDay),
            pick("salt_minimum_age_days", nil, file.saltMinimumAgeDays, rotation.saltMinimumAgeDays),
            pick("master_key_expires_after_seconds", nil, file.masterKeyExpiresAfterSeconds, KeyExpiry.defaultSeconds),
            pick("site_key_expires_after_seconds", nil, file.siteKeyExpiresAfterSeconds, KeyExpiry.defaultSeconds),
            pick("http_idle_timeout_seconds", nil, file.httpIdleTimeoutSeconds, ConnectionLimitOptions.defaultSeconds.idle),
            pick("http_header_timeout_seconds", nil, file.httpHeaderTimeoutSeconds, ConnectionLimitOptions.defaultSeconds.header),
            pick("http_body_timeout_seconds", nil, file.httpBodyTimeoutSeconds, ConnectionLimitOptions.defaultSeconds.body),
            pick("http_max_connections", nil, file.httpMaxConnections, ConnectionLimits.defaults.maxConnections),
            pick("max_in_flight_requests", nil, file.maxInFlightRequests, LoadShedder.defaultMaxInFlight),
            pick("shutdown_grace_seconds", nil, file.shutdownGraceSeconds, ConnectionLimitOptions.defaultSeconds.shutdownGrace),
        ]
    }
}
