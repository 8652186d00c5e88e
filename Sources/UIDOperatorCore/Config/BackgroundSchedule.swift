/// How often a node's background services run. These are the defaults; the configuration file and
/// `serve`'s flags override them.
public struct BackgroundSchedule: Sendable, Equatable {
    /// How often the store is polled for opt-outs and configuration changes (`store_sync_interval_ms`).
    public var storeSyncIntervalMillis: Int = 500
    /// Scheduled key and salt rotation (`rotation_enabled`).
    public var rotationEnabled: Bool = true
    /// How often the rotation service looks for due rotations (`rotation_check_interval_seconds`).
    public var rotationCheckIntervalSeconds: Int64 = 60

    public init() {}
}
