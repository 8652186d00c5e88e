/// How often a node's background services run. These are the defaults; the configuration file and
/// `serve`'s flags override them.
public struct BackgroundSchedule: Sendable, Equatable {
    /// How often the store is polled for opt-outs and configuration changes (`store_sync_interval_ms`).
    public var storeSyncIntervalMillis: Int = 500
    /// A node reloads a configuration or salt change up to this long after noticing it, at random, so
    /// that a large fleet does not read the change from the store all at once (`store_reload_spread_ms`).
    public var storeReloadSpreadMillis: Int = 0
    /// Scheduled key and salt rotation (`rotation_enabled`).
    public var rotationEnabled: Bool = true
    /// How often the rotation service looks for due rotations (`rotation_check_interval_seconds`).
    public var rotationCheckIntervalSeconds: Int64 = 60

    public init() {}
}
