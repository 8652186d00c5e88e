import Logging
import ServiceLifecycle
import Synchronization
import UIDOperatorCore
import UIDProtocol
import UIDStore

/// Rotates keys and salts on schedule. Every node runs it; the store lets only one act on each
/// due rotation, and the others see the result through `StoreSync`. A check asks the store (and so
/// takes its key or salt lock) only when the node's snapshot shows something due: a fleet's nodes
/// checking every minute do not queue on the lock when nothing is.
public struct RotationService: Service {
    let store: any ScheduledRotationStore
    let holder: SnapshotHolder
    let policy: RotationPolicy
    let checkInterval: Duration
    let clock: OperatorClock
    let logger: Logger
    /// Counts runs, failures and what they rotated.
    public var metrics: OperatorMetrics?
    private let saltRunSeen = SaltRunSeen()

    public init(store: any ScheduledRotationStore, holder: SnapshotHolder, policy: RotationPolicy, checkInterval: Duration, clock: OperatorClock = .system, logger: Logger) {
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
        let policy = self.policy
        // Double-checked: the snapshot says which keysets look due; only then is the lock taken,
        // and the store decides again from the keys it holds (another node may have been first).
        let due = snapshot.keys.keysets.values.filter { keyset in
            keyset.enabled && policy.dueRotation(
                keysetID: keyset.id, keys: snapshot.keys.keys(inKeyset: keyset.id), nowSeconds: nowMillis / 1000, config: config
            ) != nil
        }.map(\.id).sorted()
        let added = due.isEmpty ? [] : try await store.rotateDueKeys(keysetIDs: due) { keysetID, keys in
            policy.dueRotation(keysetID: keysetID, keys: keys, nowSeconds: nowMillis / 1000, config: config)
        } makeKey: { id, keysetID, rotation in
            InitialDataset.newKey(id: id, keysetID: keysetID, createdSeconds: nowMillis / 1000,
                                  activatesSeconds: rotation.activatesSeconds, expiresSeconds: rotation.expiresSeconds)
        }
        if !added.isEmpty { metrics?.state.keysRotated.increment(by: added.count) }
        for key in added {
            logger.info("Rotated key", metadata: ["keyset": "\(key.keysetID)", "key": "\(key.id)", "activates": "\(key.activatesSeconds)"])
        }

        // Once per UTC day: the first node to get here runs it, the others find it done; a node
        // that has seen it done does not ask again that day.
        let run = policy.saltSchedule.dailyRun(nowMillis: nowMillis)
        guard let day = run.skipIfRunSinceMillis, !saltRunSeen.isDone(day: day) else { return }
        let outcome = try await store.rotateSalts(
            nowMillis: run.nowMillis, dueBeforeMillis: run.dueBeforeMillis, skipIfRunSinceMillis: day, plan: run.plan
        )
        saltRunSeen.markDone(day: day)
        if let outcome {
            metrics?.state.saltBucketsRotated.increment(by: outcome.rotated)
            logger.info("Salt rotation run", metadata: [
                "rotated": "\(outcome.rotated)", "rescheduled": "\(outcome.rescheduled)", "previous_salts_dropped": "\(outcome.previousSaltsDropped)",
            ])
        }
    }
}

/// The start of the latest UTC day whose scheduled salt run a node saw done, by itself or by
/// another node (the store records runs, and a run's day only moves forward).
final class SaltRunSeen: Sendable {
    private let day = Mutex<Int64?>(nil)

    func isDone(day start: Int64) -> Bool {
        day.withLock { seen in seen.map { $0 >= start } ?? false }
    }

    func markDone(day start: Int64) {
        day.withLock { seen in seen = max(seen ?? start, start) }
    }
}
