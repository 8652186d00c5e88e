import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import UIDOperatorCore
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

        enum CodingKeys: String, CodingKey {
            case storeVersion = "store_version"
            case lastSuccessMillis = "last_success_ms"
            case failingSinceMillis = "failing_since_ms"
            case lastError = "last_error"
            case lastOptOutLagMillis = "last_optout_lag_ms"
            case maxOptOutLagMillis = "max_optout_lag_ms"
            case lastConfigurationReloadMillis = "last_configuration_reload_duration_ms"
        }
    }

    private let state = Mutex(Values())

    public init() {}

    public var values: Values { state.withLock { $0 } }

    func update(_ change: (inout Values) -> Void) { state.withLock { change(&$0) } }
}

/// Keeps a node's snapshot in step with the store: new opt-outs are applied incrementally, and a
/// configuration change (new client, rotated key or salts, …) rebuilds the snapshot off the request
/// path. While the store is unreachable the node keeps serving its snapshot and retries.
public struct StoreSync: Service {
    let store: any OperatorStore
    let holder: SnapshotHolder
    let status: SyncStatus
    let interval: Duration
    let clock: OperatorClock
    let logger: Logger
    /// Builds the configuration for a reloaded snapshot (flags and files are fixed for a process).
    let configuration: @Sendable (StoreState) throws -> OperatorConfig
    let initialVersion: StoreVersion
    let initialWatermark: Int64

    public init(
        store: any OperatorStore, holder: SnapshotHolder, status: SyncStatus, interval: Duration, clock: OperatorClock = .system,
        logger: Logger, initialVersion: StoreVersion, initialWatermark: Int64, configuration: @escaping @Sendable (StoreState) throws -> OperatorConfig
    ) {
        self.store = store
        self.holder = holder
        self.status = status
        self.interval = interval
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

    public func run() async throws {
        // Graceful shutdown cancels the loop, which ends the sleep at once.
        try await cancelWhenGracefulShutdown {
            var version = initialVersion
            var watermark = initialWatermark
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { return }
                do {
                    watermark = try await applyNewOptOuts(after: watermark)
                    let current = try await store.version()
                    if current != version {
                        version = try await reload(saltsChanged: current.salts != version.salts)
                    }
                    let now = clock.nowMillis()
                    status.update {
                        $0.lastSuccessMillis = now
                        $0.failingSinceMillis = nil
                        $0.lastError = nil
                    }
                } catch {
                    let now = clock.nowMillis()
                    status.update {
                        if $0.failingSinceMillis == nil { $0.failingSinceMillis = now }
                        $0.lastError = String(describing: error)
                    }
                    logger.warning("Store unreachable; serving from the current snapshot", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    private func applyNewOptOuts(after watermark: Int64) async throws -> Int64 {
        var watermark = watermark
        while true {
            let batch = try await store.optOuts(after: watermark)
            guard !batch.records.isEmpty else { return watermark }
            holder.update { snapshot in
                batch.records.reduce(snapshot) { current, entry in
                    current.addingOptOut(firstLevelHash: entry.record.firstLevelHash, advertisingID: entry.record.advertisingID,
                                         optedOutSinceSeconds: entry.record.optedOutSinceSeconds)
                }
            }
            let now = clock.nowMillis()
            let lag = batch.records.last.map { now - $0.recordedMillis }
            status.update { values in
                if let lag {
                    values.lastOptOutLagMillis = lag
                    values.maxOptOutLagMillis = max(values.maxOptOutLagMillis ?? lag, lag)
                }
            }
            watermark = batch.watermark
        }
    }

    private func reload(saltsChanged: Bool) async throws -> StoreVersion {
        let started = clock.nowMillis()
        var state = try await store.loadState(includingSalts: saltsChanged, includingOptOuts: false)
        if !saltsChanged { state.contents.salts = holder.current.salts }
        let fresh: OperatorSnapshot
        do {
            fresh = try OperatorSnapshot(config: configuration(state), contents: state.contents)
        } catch {
            // Bad data (two default keysets for one site, lifetimes out of order) must not take the node down.
            logger.error("Rejected a configuration change; keeping the previous snapshot", metadata: ["error": "\(error)"])
            return state.version
        }
        holder.update { current in fresh.keepingOptOuts(of: current) }
        let duration = clock.nowMillis() - started
        status.update {
            $0.storeVersion = state.version.description
            $0.lastConfigurationReloadMillis = duration
        }
        logger.info("Reloaded from the store", metadata: ["version": "\(state.version)", "salts": "\(saltsChanged)", "ms": "\(duration)"])
        return state.version
    }
}
