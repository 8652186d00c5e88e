import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import UIDOperatorCore
import UIDProtocol
import UIDStore

/// What `/ops/healthcheck` and `/ops/status` report about keeping up with the store.
public final class SyncStatus: Sendable {
    public struct Values: Sendable, Encodable {
        public var storeVersion: String = ""
        public var lastSuccessMillis: Int64 = 0
        public var failingSinceMillis: Int64?
        public var lastError: String?
        /// Time from an opt-out's commit to this node applying it, for the most recent one and the
        /// worst seen since start (epoch-ms clocks of the nodes involved).
        public var lastOptOutLagMillis: Int64?
        public var maxOptOutLagMillis: Int64?
        public var lastConfigurationReloadMillis: Int64?
        /// Snapshot rebuilds since start: a change that changes nothing causes none.
        public var reloads: Int = 0
        /// Salt buckets the last salt change applied (a few after a salt run; every one after a full load).
        public var lastSaltBucketsApplied: Int?
        /// Polls of the store that failed, since start.
        public var failures: Int = 0
        /// Set while the store refuses writes (a full disk, a read-only file system, a lost
        /// PostgreSQL): since the first refused opt-out, cleared by the next one stored or when an
        /// unreachable store answers again.
        public var writesFailingSinceMillis: Int64?
        public var lastWriteError: String?
        /// Opt-outs the store refused, since start.
        public var writeFailures: Int = 0

        enum CodingKeys: String, CodingKey {
            case storeVersion = "store_version"
            case lastSuccessMillis = "last_success_ms"
            case failingSinceMillis = "failing_since_ms"
            case lastError = "last_error"
            case lastOptOutLagMillis = "last_optout_lag_ms"
            case maxOptOutLagMillis = "max_optout_lag_ms"
            case lastConfigurationReloadMillis = "last_configuration_reload_duration_ms"
            case reloads
            case lastSaltBucketsApplied = "last_salt_buckets_applied"
            case failures
            case writesFailingSinceMillis = "writes_failing_since_ms"
            case lastWriteError = "last_write_error"
            case writeFailures = "write_failures"
        }
    }

    private let state = Mutex(Values())

    public init() {}

    public var values: Values { state.withLock { $0 } }

    func update(_ change: (inout Values) -> Void) { state.withLock { change(&$0) } }

    /// A write the store refused at `nowMillis`.
    func writeFailed(_ error: any Error, nowMillis: Int64) {
        update {
            if $0.writesFailingSinceMillis == nil { $0.writesFailingSinceMillis = nowMillis }
            $0.lastWriteError = String(describing: error)
            $0.writeFailures += 1
        }
    }

    /// A write the store took: writes work again.
    func writeSucceeded() {
        update {
            $0.writesFailingSinceMillis = nil
            $0.lastWriteError = nil
        }
    }
}

/// Keeps a node's snapshot in step with the store: new opt-outs are applied incrementally, and a
/// configuration change (new client, rotated key or salts, …) rebuilds the snapshot off the request
/// path. While the store is unreachable the node keeps serving its snapshot and retries.
public struct StoreSync: Service {
    let store: any OperatorStore
    let holder: SnapshotHolder
    let status: SyncStatus
    let schedule: PollSchedule
    let clock: OperatorClock
    let logger: Logger
    /// Builds the configuration for a reloaded snapshot (flags and files are fixed for a process).
    let configuration: @Sendable (StoreState) throws -> OperatorConfig
    let initialVersion: StoreVersion
    let initialWatermark: Int64
    /// Changed salt buckets past which the table's overlay is folded (tests lower it).
    var changedSaltBucketLimit = OperatorSnapshot.changedSaltBucketLimit

    /// Polls every `interval` with the default spread (a random initial phase, ±10 % per interval).
    public init(
        store: any OperatorStore, holder: SnapshotHolder, status: SyncStatus, interval: Duration, clock: OperatorClock = .system,
        logger: Logger, initialVersion: StoreVersion, initialWatermark: Int64, configuration: @escaping @Sendable (StoreState) throws -> OperatorConfig
    ) {
        let (seconds, attoseconds) = interval.components
        let millis = seconds.multipliedReportingOverflow(by: 1000).partialValue &+ attoseconds / 1_000_000_000_000_000
        self.init(store: store, holder: holder, status: status, schedule: PollSchedule(intervalMillis: millis), clock: clock, logger: logger,
                  initialVersion: initialVersion, initialWatermark: initialWatermark, configuration: configuration)
    }

    public init(
        store: any OperatorStore, holder: SnapshotHolder, status: SyncStatus, schedule: PollSchedule, clock: OperatorClock = .system,
        logger: Logger, initialVersion: StoreVersion, initialWatermark: Int64, configuration: @escaping @Sendable (StoreState) throws -> OperatorConfig
    ) {
        self.store = store
        self.holder = holder
        self.status = status
        self.schedule = schedule
        self.clock = clock
        self.logger = logger
        self.configuration = configuration
        self.initialVersion = initialVersion
        self.initialWatermark = initialWatermark
        status.update {
            $0.storeVersion = initialVersion.description
            $0.lastSuccessMillis = clock.nowMillis()
        }
    }

    /// Where a node stands against the store.
    struct Progress {
        var version: StoreVersion
        var watermark: Int64
        /// Set when salt changes could not be applied (the new snapshot was rejected): the next salt
        /// change then loads the whole table rather than the buckets changed since.
        var mustLoadAllSalts = false
        /// When a noticed change is to be reloaded (see `PollSchedule.reloadSpreadMillis`).
        var reloadDueMillis: Int64?
    }

    public func run() async throws {
        // Graceful shutdown cancels the loop, which ends the sleep at once.
        await cancelWhenGracefulShutdown {
            var progress = Progress(version: initialVersion, watermark: initialWatermark)
            var delay = schedule.initialDelayMillis()
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(delay))
                delay = schedule.nextDelayMillis()
                if Task.isCancelled { return }
                do {
                    // A quick probe first: a store that went away is noticed within seconds. The
                    // version it reads is the one the poll compares (one query fewer per poll).
                    let probed = try await StoreDeadline.run { [store] in try await store.version() }
                    try await poll(&progress, probed: probed)
                    let now = clock.nowMillis()
                    status.update {
                        // A store that is back after being unreachable: writes it refused meanwhile
                        // are not a current problem (a full disk keeps reads working, so stays reported).
                        if $0.failingSinceMillis != nil {
                            $0.writesFailingSinceMillis = nil
                            $0.lastWriteError = nil
                        }
                        $0.lastSuccessMillis = now
                        $0.failingSinceMillis = nil
                        $0.lastError = nil
                    }
                } catch {
                    if Task.isCancelled { return }   // shutting down, not a store failure
                    let now = clock.nowMillis()
                    status.update {
                        if $0.failingSinceMillis == nil { $0.failingSinceMillis = now }
                        $0.failures += 1
                        $0.lastError = String(describing: error)
                    }
                    logger.warning("Store unreachable; serving from the current snapshot", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// One poll: new opt-outs, then a rebuild if configuration or salts changed.
    /// `probed` is a version read just before; without it the poll reads one after the opt-outs.
    func poll(_ progress: inout Progress, probed: StoreVersion? = nil) async throws {
        progress.watermark = try await applyNewOptOuts(after: progress.watermark)
        try await foldRecentOptOutsIfLarge(holdingRowsUpTo: progress.watermark)   // opt-outs this node's own requests added
        let current: StoreVersion
        if let probed { current = probed } else { current = try await store.version() }
        guard current != progress.version else {
            progress.reloadDueMillis = nil
            return
        }
        let now = clock.nowMillis()
        let due = progress.reloadDueMillis ?? now &+ schedule.reloadDelayMillis()
        guard now >= due else {
            progress.reloadDueMillis = due
            return
        }
        try await reload(&progress, saltsChanged: current.salts != progress.version.salts)
        progress.reloadDueMillis = nil
        try await foldChangedSaltsIfLarge()
    }

    private func applyNewOptOuts(after watermark: Int64) async throws -> Int64 {
        var watermark = watermark
        while true {
            let batch = try await store.optOuts(after: watermark)
            guard !batch.records.isEmpty else { return watermark }
            holder.update { snapshot in snapshot.addingOptOuts(batch.records.lazy.map { $0.record }) }
            try await foldRecentOptOutsIfLarge(holdingRowsUpTo: batch.watermark)
            let now = clock.nowMillis()
            let lag = batch.records.last.map { now - $0.recordedMillis }
            status.update { values in
                if let lag {
                    values.lastOptOutLagMillis = lag
                    values.maxOptOutLagMillis = max(values.maxOptOutLagMillis ?? lag, lag)
                }
            }
            watermark = batch.watermark
            if batch.isLast { return watermark }
        }
    }

    /// Folds the snapshot's overlay of recent opt-outs into its main index once the overlay is
    /// large: the new index is built on a background thread while requests keep reading the
    /// current one, then swapped in with the opt-outs that arrived meanwhile left in the overlay.
    /// The snapshot holds every store row up to `watermark`, so a folded index does too (as does
    /// the main index when a large batch was merged into it on the spot): a store that keeps an
    /// image of the index is offered it.
    private func foldRecentOptOutsIfLarge(holdingRowsUpTo watermark: Int64) async throws {
        let source = holder.current
        let whole: OptOutIndex
        if source.recentOptOuts.recordCount > OperatorSnapshot.recentOptOutLimit {
            let folded = try await BatchWorkPool.shared.runBackground { source.foldingRecentOptOuts() }
            holder.update { $0.adoptingFoldedOptOuts(folded, from: source) }
            whole = folded
        } else if source.recentOptOuts.recordCount == 0, source.optOuts.pendingCount == 0 {
            whole = source.optOuts
        } else {
            return
        }
        (store as? any OptOutIndexImaging)?.refreshOptOutImage(whole, upTo: watermark) { [logger] outcome in
            outcome.log(to: logger, refreshing: true, metadata: ["up_to_row": "\(watermark)"])
        }
    }

    /// Folds the salt table's overlay of changed buckets into its flat arrays once the overlay is
    /// large, as `foldRecentOptOutsIfLarge` does for opt-outs: the copy is made on a background
    /// thread while requests keep reading the current table.
    private func foldChangedSaltsIfLarge() async throws {
        let source = holder.current
        guard source.salts.changedBucketCount > changedSaltBucketLimit else { return }
        let folded = try await BatchWorkPool.shared.runBackground { source.foldingChangedSalts() }
        holder.update { $0.adoptingFoldedSalts(folded, from: source) }
    }

    /// Rebuilds the snapshot. Salts come from the current snapshot when unchanged, patched with the
    /// buckets salt runs changed when the store can say which (a daily run: a 365th of the table,
    /// and a 30th rescheduled), into the table's overlay, and loaded whole otherwise.
    private func reload(_ progress: inout Progress, saltsChanged: Bool) async throws {
        let started = clock.nowMillis()
        var patched: (salts: SaltTable, version: Int64, buckets: Int)?
        if saltsChanged, !progress.mustLoadAllSalts, let changes = try await store.saltChanges(after: progress.version.salts) {
            var salts = holder.current.salts
            var applies = true
            for change in changes.buckets where applies {
                // A position outside the table means it is not the table the changes start from.
                applies = salts.replace(at: change.position, with: change.entry)
            }
            if applies { patched = (salts, changes.version, changes.buckets.count) }
        }
        let loadAll = saltsChanged && patched == nil
        var state = try await store.loadState(includingSalts: loadAll, includingOptOuts: false)
        if let patched {
            state.contents.salts = patched.salts
            state.version.salts = patched.version
        } else if !loadAll {
            state.contents.salts = holder.current.salts
        }
        let fresh: OperatorSnapshot
        do {
            // Building a snapshot over a million buckets takes a while: not on the request threads.
            fresh = try await BatchWorkPool.shared.runBackground { [configuration, state] in
                try OperatorSnapshot(config: configuration(state), contents: state.contents)
            }
        } catch {
            // Bad data (two default keysets for one site, lifetimes out of order) must not take the node down.
            logger.error("Rejected a configuration change; keeping the previous snapshot", metadata: ["error": "\(error)"])
            progress.version = state.version
            progress.mustLoadAllSalts = progress.mustLoadAllSalts || saltsChanged
            return
        }
        holder.update { current in fresh.keepingOptOuts(of: current) }
        progress.version = state.version
        progress.mustLoadAllSalts = false
        let duration = clock.nowMillis() - started
        let applied = loadAll ? state.contents.salts.count : patched?.buckets
        status.update {
            $0.storeVersion = state.version.description
            $0.lastConfigurationReloadMillis = duration
            $0.reloads += 1
            if let applied { $0.lastSaltBucketsApplied = applied }
        }
        logger.info("Reloaded from the store", metadata: [
            "version": "\(state.version)", "salt_buckets": "\(applied.map(String.init) ?? "unchanged")", "ms": "\(duration)",
        ])
    }
}
