import Logging
import ServiceLifecycle
import UIDOperatorCore
import UIDProtocol
import UIDStore

/// Rotates keys and salts on schedule. Every node runs it; the store lets only one act on each
/// due rotation, and the others see the result through `StoreSync`.
public struct RotationService: Service {
    let store: any OperatorStore
    let holder: SnapshotHolder
    let policy: RotationPolicy
    let checkInterval: Duration
    let clock: OperatorClock
    let logger: Logger
    /// Counts runs, failures and what they rotated.
    public var metrics: OperatorMetrics?

    public init(store: any OperatorStore, holder: SnapshotHolder, policy: RotationPolicy, checkInterval: Duration, clock: OperatorClock = .system, logger: Logger) {
        self.store = store
        self.holder = holder
        self.policy = policy
        self.checkInterval = checkInterval
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        // Graceful shutdown cancels the loop, which ends the sleep at once.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await rotateDue()
                    metrics?.state.rotationRuns.increment()
                } catch {
                    metrics?.state.rotationRuns.increment()
                    metrics?.state.rotationFailures.increment()
                    logger.warning("Scheduled rotation failed; will retry", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: checkInterval)
            }
        }
    }

    /// One pass: a new key for every keyset whose newest key is due, then the daily salt rotation.
    public func rotateDue() async throws {
        let snapshot = holder.current
        let config = snapshot.config
        let nowMillis = clock.nowMillis()
        let keysets = snapshot.keys.keysets.values.filter { $0.enabled }.map(\.id).sorted()
        let policy = self.policy
        let added = try await store.rotateDueKeys(keysetIDs: keysets) { keysetID, keys in
            policy.dueRotation(keysetID: keysetID, keys: keys, nowSeconds: nowMillis / 1000, config: config)
        } makeKey: { id, keysetID, rotation in
            InitialDataset.newKey(id: id, keysetID: keysetID, createdSeconds: nowMillis / 1000,
                                  activatesSeconds: rotation.activatesSeconds, expiresSeconds: rotation.expiresSeconds)
        }
        if !added.isEmpty { metrics?.state.keysRotated.increment(by: added.count) }
        for key in added {
            logger.info("Rotated key", metadata: ["keyset": "\(key.keysetID)", "key": "\(key.id)", "activates": "\(key.activatesSeconds)"])
        }

        // Once per UTC day: the first node to get here runs it, the others find it done.
        let run = policy.saltSchedule.dailyRun(nowMillis: nowMillis)
        let outcome = try await store.rotateSalts(
            nowMillis: run.nowMillis, dueBeforeMillis: run.dueBeforeMillis, skipIfRunSinceMillis: run.skipIfRunSinceMillis, plan: run.plan
        )
        if let outcome {
            metrics?.state.saltBucketsRotated.increment(by: outcome.rotated)
            logger.info("Salt rotation run", metadata: [
                "rotated": "\(outcome.rotated)", "rescheduled": "\(outcome.rescheduled)", "previous_salts_dropped": "\(outcome.previousSaltsDropped)",
            ])
        }
    }
}
