import CoreMetrics
import Prometheus
import Synchronization
import UIDOperatorCore
import UIDProtocol

/// How fresh this node's data is: set from the snapshot and the sync status each time `/metrics`
/// is read, so nothing here costs a request anything.
final class StateMetrics: Sendable {
    private let configurationVersion: CoreMetrics.Gauge
    private let saltsVersion: CoreMetrics.Gauge
    private let snapshotAge: CoreMetrics.Gauge
    private let lastReloadDuration: CoreMetrics.Gauge
    private let reloads: CoreMetrics.Counter
    private let storeErrors: CoreMetrics.Counter
    private let storeFailing: CoreMetrics.Gauge
    private let healthy: CoreMetrics.Gauge
    private let optOutLag: CoreMetrics.Gauge
    private let optOutLagMax: CoreMetrics.Gauge
    private let optOuts: CoreMetrics.Gauge
    private let saltBuckets: CoreMetrics.Gauge
    private let oldestSaltAge: CoreMetrics.Gauge
    private let saltLastUpdatedMin: CoreMetrics.Gauge
    private let saltLastUpdatedMax: CoreMetrics.Gauge
    private let newestKeyAge: GaugeFamily<Int32>
    private let activeKeyAge: GaugeFamily<Int32>
    private let activeKeyActivates: GaugeFamily<Int32>
    private let clients: CoreMetrics.Gauge
    private let sites: CoreMetrics.Gauge
    private let keys: CoreMetrics.Gauge
    let rotationRuns: CoreMetrics.Counter
    let rotationFailures: CoreMetrics.Counter
    let keysRotated: CoreMetrics.Counter
    let saltBucketsRotated: CoreMetrics.Counter

    /// Counters kept by `SyncStatus` as totals, and the salt range of the last snapshot seen (a
    /// million buckets are not walked again on every scrape).
    private struct Seen {
        var reloads = 0
        var storeErrors = 0
        var salts: (snapshot: ObjectIdentifier, min: Int64, max: Int64)?
    }

    private let seen = Mutex(Seen())

    init(factory: PrometheusMetricsFactory) {
        func gauge(_ name: String) -> CoreMetrics.Gauge { CoreMetrics.Gauge(label: name, factory: factory) }
        func counter(_ name: String) -> CoreMetrics.Counter { CoreMetrics.Counter(label: name, factory: factory) }
        configurationVersion = gauge("uid_snapshot_configuration_version")
        saltsVersion = gauge("uid_snapshot_salts_version")
        snapshotAge = gauge("uid_snapshot_age_seconds")
        lastReloadDuration = gauge("uid_snapshot_last_reload_duration_seconds")
        reloads = counter("uid_snapshot_reloads_total")
        storeErrors = counter("uid_store_errors_total")
        storeFailing = gauge("uid_store_unreachable")
        healthy = gauge("uid_healthy")
        optOutLag = gauge("uid_optout_propagation_lag_seconds")
        optOutLagMax = gauge("uid_optout_propagation_lag_max_seconds")
        optOuts = gauge("uid_optouts")
        saltBuckets = gauge("uid_salt_buckets")
        oldestSaltAge = gauge("uid_salt_oldest_age_seconds")
        saltLastUpdatedMin = gauge("uid2_second_level_salt_last_updated_min")
        saltLastUpdatedMax = gauge("uid2_second_level_salt_last_updated_max")
        newestKeyAge = GaugeFamily("uid_key_newest_age_seconds", factory: factory) { [("keyset_id", String($0))] }
        activeKeyAge = GaugeFamily("uid_key_active_age_seconds", factory: factory) { [("keyset_id", String($0))] }
        activeKeyActivates = GaugeFamily("uid2_encryption_key_activates", factory: factory) { [("keyset_id", String($0))] }
        clients = gauge("uid_clients")
        sites = gauge("uid_sites")
        keys = gauge("uid_keys")
        rotationRuns = counter("uid_rotation_runs_total")
        rotationFailures = counter("uid_rotation_failures_total")
        keysRotated = counter("uid_keys_rotated_total")
        saltBucketsRotated = counter("uid_salt_buckets_rotated_total")
    }

    func refresh(snapshot: OperatorSnapshot, sync: SyncStatus.Values, nowMillis now: Int64, staleLimitMillis: Int64) {
        let versions = sync.storeVersion.split(separator: ".").compactMap { Int64($0) }
        if versions.count == 2 {
            configurationVersion.record(versions[0])
            saltsVersion.record(versions[1])
        }
        snapshotAge.record((Double(now) - Double(sync.lastSuccessMillis)) / 1000)
        if let reload = sync.lastConfigurationReloadMillis { lastReloadDuration.record(seconds(reload)) }
        storeFailing.record(sync.failingSinceMillis == nil ? 0 : 1)
        // The healthcheck's rule: unhealthy only while the store fails and the snapshot is too old.
        healthy.record(sync.failingSinceMillis != nil && now &- sync.lastSuccessMillis > staleLimitMillis ? 0 : 1)
        if let lag = sync.lastOptOutLagMillis { optOutLag.record(seconds(lag)) }
        if let lag = sync.maxOptOutLagMillis { optOutLagMax.record(seconds(lag)) }
        optOuts.record(snapshot.optOuts.count + snapshot.recentOptOuts.count)
        clients.record(snapshot.clients.clients.count)
        sites.record(snapshot.sites.count)
        keys.record(snapshot.keys.allKeys.count)

        let salts = snapshot.salts
        saltBuckets.record(salts.count)
        let range: (min: Int64, max: Int64)? = seen.withLock { seen in
            let id = ObjectIdentifier(snapshot)
            if let cached = seen.salts, cached.snapshot == id { return (cached.min, cached.max) }
            guard salts.count > 0 else { return nil }
            var low = Int64.max
            var high = Int64.min
            for position in 0..<salts.count {
                let updated = salts.lastUpdatedMillis(at: position)
                low = min(low, updated)
                high = max(high, updated)
            }
            seen.salts = (id, low, high)
            return (low, high)
        }
        if let range {
            oldestSaltAge.record((Double(now) - Double(range.min)) / 1000)
            saltLastUpdatedMin.record(range.min)
            saltLastUpdatedMax.record(range.max)
        }

        let nowSeconds = now / 1000
        for keyset in snapshot.keys.keysets.values {
            let keysetKeys = snapshot.keys.keys(inKeyset: keyset.id)
            if let newest = keysetKeys.max(by: { $0.createdSeconds < $1.createdSeconds }) {
                newestKeyAge.set(keyset.id, Double(nowSeconds) - Double(newest.createdSeconds))
            }
            if let active = snapshot.keys.activeKey(keysetID: keyset.id, atSeconds: nowSeconds) {
                activeKeyAge.set(keyset.id, Double(nowSeconds) - Double(active.activatesSeconds))
                activeKeyActivates.set(keyset.id, Double(active.activatesSeconds))
            }
        }

        // SyncStatus keeps totals; the counters move by what changed since the last scrape.
        let (newReloads, newErrors) = seen.withLock { seen in
            defer {
                seen.reloads = sync.reloads
                seen.storeErrors = sync.failures
            }
            return (max(sync.reloads - seen.reloads, 0), max(sync.failures - seen.storeErrors, 0))
        }
        if newReloads > 0 { reloads.increment(by: newReloads) }
        if newErrors > 0 { storeErrors.increment(by: newErrors) }
    }

    private func seconds(_ millis: Int64) -> Double { Double(millis) / 1000 }
}
