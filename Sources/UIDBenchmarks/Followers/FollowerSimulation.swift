import Foundation
import Logging
import Synchronization
import UIDOperatorCore
import UIDProtocol
import UIDServer
import UIDStore

/// N operator nodes' store sync against one PostgreSQL, without HTTP: each follower is the node's
/// real `StoreSync` loop with its own `PostgresStore` (its own connection pool, so its own
/// connections, as a separate node would have) and its own snapshot holder, all in this process.
/// A writer records opt-outs at a steady rate, then runs one salt rotation. Measured: the server's
/// CPU and transactions, how long each opt-out takes to reach each follower, and how long until
/// every follower serves the rotated salts.
///
/// In-process rather than N processes: what the database sees (one connection and one poll loop
/// per node) is the same, and the followers share the start-up snapshot copy-on-write, so a
/// hundred fit in memory. The cost: followers share this machine's cores with each other and the
/// server, which inflates delays at large N (reported separately from the database's share).
struct FollowerSimulation {
    struct Settings {
        var serverURL: String
        var bucketCount: Int
        var optOutsPerSecond: Double
        var steadySeconds: Double
        var pollMillis: Int64
        var reloadSpreadMillis: Int64
        var saltFraction: Double
    }

    struct Result: Codable {
        var followers: Int
        var buckets: Int
        var pollMillis: Int64
        var reloadSpreadMillis: Int64
        var optOutsPerSecond: Double
        var steadySeconds: Double
        var connections: Int64
        /// Server CPU seconds per second of the steady phase (1.0 = one core busy).
        var serverCPUCoresSteady: Double
        var transactionsPerSecond: Double
        var optOutsTracked: Int
        var optOutsMissed: Int
        var optOutLagP50Millis: Double
        var optOutLagP90Millis: Double
        var optOutLagP99Millis: Double
        var optOutLagMaxMillis: Double
        var rotatedBuckets: Int64
        var rotatedRowBytes: Int64
        var rotationWriteMillis: Double
        var saltPickupP50Millis: Double
        var saltPickupAllMillis: Double
        var saltPickupMissed: Int
        /// Server CPU seconds of the rotation's own transaction (one per fleet; it reads every bucket here).
        var serverCPUSecondsRotationWrite: Double
        /// Server CPU seconds from the rotation's commit until every follower had it, beyond the steady rate.
        var serverCPUSecondsForRotation: Double
        /// Server CPU seconds of one node's full start-up load (configuration, salts, opt-outs).
        var serverCPUSecondsFullLoad: Double
        var fullLoadMillis: Double
        /// This process's CPU seconds per second in the steady phase (the followers and the writer).
        var followerCPUCoresSteady: Double
        var keyPickupP50Millis: Double
        var keyPickupAllMillis: Double
        /// Server CPU seconds from the key rotation's commit until every follower had it, beyond the steady rate.
        var serverCPUSecondsForKeyRotation: Double
        /// The on-disk size of the configuration rows a reload reads (sites, clients, keysets, keys, key pairs).
        var configurationRowBytes: Int64
    }

    let settings: Settings
    let logger: Logger
    let log: (String) -> Void

    func run(followers count: Int) async throws -> Result {
        let probe = try await DatabaseProbe.connect(url: settings.serverURL, logger: logger)
        let database = "uid_followers_\(count)_\(ProcessInfo.processInfo.processIdentifier)"
        let address = try DatabaseProbe.Address(url: settings.serverURL)
        let url = address.url(database: database)
        await probe.dropDatabase(database)
        try await probe.createDatabase(database)
        do {
            let result = try await simulate(count, url: url, database: database, probe: probe)
            await probe.dropDatabase(database)
            await probe.close()
            return result
        } catch {
            await probe.dropDatabase(database)
            await probe.close()
            throw error
        }
    }

    private func simulate(_ count: Int, url: String, database: String, probe: DatabaseProbe) async throws -> Result {
        let writer = try await PostgresStore.connect(url: url, logger: logger)
        defer { Task { await writer.shutdown() } }
        log("  seeding \(settings.bucketCount) salt buckets")
        _ = try await StoreBootstrap.seedIfEmpty(writer, scope: .uid2, environment: .test, nowMillis: currentMillis(), bucketCount: settings.bucketCount)

        // One node's start-up load, measured; the followers then share its snapshot.
        let loadCPU = probe.serverCPUSeconds()
        let loadStart = ContinuousClock.now
        let state = try await writer.loadState(includingSalts: true, includingOptOuts: true)
        let fullLoadMillis = (ContinuousClock.now - loadStart).millis
        let fullLoadCPU = probe.serverCPUSeconds() - loadCPU
        let snapshot = try OperatorSnapshot(config: OperatorConfig(), contents: state.contents)

        log("  starting \(count) followers")
        var nodes: [Follower] = []
        for index in 0..<count {
            let store = try await PostgresStore.connect(url: url, logger: logger)
            let holder = SnapshotHolder(snapshot)
            let sync = StoreSync(
                store: store, holder: holder, status: SyncStatus(),
                schedule: PollSchedule(intervalMillis: settings.pollMillis, reloadSpreadMillis: settings.reloadSpreadMillis,
                                       unitRandom: PollSchedule.seededRandom(UInt64(index))),
                logger: logger, initialVersion: state.version, initialWatermark: state.optOutWatermark,
                configuration: { _ in OperatorConfig() }
            )
            nodes.append(Follower(store: store, holder: holder, task: Task { try? await sync.run() }))
        }
        let holders = nodes.map(\.holder)
        try await Task.sleep(for: .milliseconds(2 * settings.pollMillis + 500))

        // Steady phase: opt-outs at a fixed rate, every follower watched for each one.
        let tracker = OptOutTracker(followers: count)
        let watcher = Task { await tracker.watch(holders) }
        let steadyCPU = probe.serverCPUSeconds()
        let ownCPU = ProcessStats(pid: getpid()).cpuSeconds() ?? 0
        let steadyTransactions = try await probe.transactions(database: database)
        let steadyStart = ContinuousClock.now
        let connections = try await probe.connections(database: database)
        try await recordOptOuts(writer, tracker: tracker, seconds: settings.steadySeconds)
        let steadyElapsed = (ContinuousClock.now - steadyStart).seconds
        let cpuCores = (probe.serverCPUSeconds() - steadyCPU) / steadyElapsed
        let transactionsPerSecond = Double(try await probe.transactions(database: database) - steadyTransactions) / steadyElapsed
        let followerCores = ((ProcessStats(pid: getpid()).cpuSeconds() ?? 0) - ownCPU) / steadyElapsed
        // Give the last opt-outs time to arrive before the rotation starts.
        try await Task.sleep(for: .milliseconds(3 * settings.pollMillis + 2000))
        watcher.cancel()
        await watcher.value
        let lags = tracker.lags()
        log("  steady: server \(format(cpuCores * 100)) % of a core, \(format(transactionsPerSecond)) transactions/s, opt-out lag p50 \(format(percentile(lags.seen, 0.5))) ms")

        // One salt rotation, then the time until each follower serves it.
        let rotationCPU = probe.serverCPUSeconds()
        let rotationStart = ContinuousClock.now
        let probePosition = Mutex<Int?>(nil)
        let now = currentMillis()
        let fraction = settings.saltFraction
        guard let outcome = try await writer.rotateSalts(nowMillis: now, dueBeforeMillis: Int64.max, skipIfRunSinceMillis: nil, plan: { candidates, total in
            var generator = SystemRandomNumberGenerator()
            var plan = SaltSchedule().plan(candidates: candidates, totalBuckets: total, nowMillis: now, fraction: fraction, forced: true, using: &generator)
            // Only the rotated buckets change (a daily run also moves the due ones' refresh_from; see docs/SCALING.md).
            plan.reschedules = []
            probePosition.withLock { $0 = plan.rotations.first?.position }
            return plan
        }), let position = probePosition.withLock({ $0 }), let rotatedSalt = try await writer.saltBucket(at: position)?.currentSalt
        else { throw BenchmarkFailure("the salt rotation rotated nothing") }
        let written = ContinuousClock.now
        let rotationWriteCPU = probe.serverCPUSeconds() - rotationCPU
        let version = try await writer.version().salts
        var pickups = [Double?](repeating: nil, count: count)
        let deadline = written + .seconds(120)
        while pickups.contains(where: { $0 == nil }), ContinuousClock.now < deadline {
            for (index, holder) in holders.enumerated() where pickups[index] == nil {
                let salts = holder.current.salts
                if position < salts.count, salts[position].currentSalt == rotatedSalt { pickups[index] = (ContinuousClock.now - written).millis }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        // The followers' share: from the commit until every follower had it, beyond the steady rate.
        let pickupElapsed = (ContinuousClock.now - written).seconds
        let rotationServerCPU = probe.serverCPUSeconds() - rotationCPU - rotationWriteCPU - cpuCores * pickupElapsed
        let picked = pickups.compactMap { $0 }
        let rowBytes = try await probe.saltRowBytes(database: url, changedIn: version)
        log("  rotation of \(outcome.rotated) buckets: all followers after \(format(picked.max() ?? .nan)) ms, server \(format(rotationServerCPU)) CPU s")

        // One key rotation: a configuration change, which every follower reloads (without salts or opt-outs).
        guard let keysetID = state.contents.keysets.first(where: { $0.enabled })?.id else { throw BenchmarkFailure("the seeded store has no keyset") }
        let keyCPU = probe.serverCPUSeconds()
        let nowSeconds = currentMillis() / 1000
        let key = try await writer.rotateKey(keysetID: keysetID, expireOthersAt: nil) { id in
            InitialDataset.newKey(id: id, keysetID: keysetID, nowSeconds: nowSeconds)
        }
        let keyWritten = ContinuousClock.now
        let keyWriteCPU = probe.serverCPUSeconds() - keyCPU
        var keyPickups = [Double?](repeating: nil, count: count)
        let keyDeadline = keyWritten + .seconds(120)
        while keyPickups.contains(where: { $0 == nil }), ContinuousClock.now < keyDeadline {
            for (index, holder) in holders.enumerated() where keyPickups[index] == nil {
                if holder.current.keys.allKeys.contains(where: { $0.id == key.id }) { keyPickups[index] = (ContinuousClock.now - keyWritten).millis }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        let keyElapsed = (ContinuousClock.now - keyWritten).seconds
        let keyServerCPU = probe.serverCPUSeconds() - keyCPU - keyWriteCPU - cpuCores * keyElapsed
        let keyPicked = keyPickups.compactMap { $0 }
        let configurationBytes = try await probe.configurationRowBytes(database: url)
        log("  key rotation: all followers after \(format(keyPicked.max() ?? .nan)) ms, server \(format(keyServerCPU)) CPU s")

        for node in nodes { node.task.cancel() }
        for node in nodes {
            await node.task.value
            await node.store.shutdown()
        }
        return Result(
            followers: count, buckets: settings.bucketCount, pollMillis: settings.pollMillis, reloadSpreadMillis: settings.reloadSpreadMillis,
            optOutsPerSecond: settings.optOutsPerSecond, steadySeconds: steadyElapsed, connections: connections,
            serverCPUCoresSteady: cpuCores, transactionsPerSecond: transactionsPerSecond,
            optOutsTracked: lags.tracked, optOutsMissed: lags.missed,
            optOutLagP50Millis: percentile(lags.seen, 0.5), optOutLagP90Millis: percentile(lags.seen, 0.9),
            optOutLagP99Millis: percentile(lags.seen, 0.99), optOutLagMaxMillis: lags.seen.max() ?? .nan,
            rotatedBuckets: rowBytes.rows, rotatedRowBytes: rowBytes.bytes, rotationWriteMillis: (written - rotationStart).millis,
            saltPickupP50Millis: percentile(picked, 0.5), saltPickupAllMillis: picked.count == count ? (picked.max() ?? .nan) : .nan,
            saltPickupMissed: count - picked.count, serverCPUSecondsRotationWrite: rotationWriteCPU, serverCPUSecondsForRotation: rotationServerCPU,
            serverCPUSecondsFullLoad: fullLoadCPU, fullLoadMillis: fullLoadMillis, followerCPUCoresSteady: followerCores,
            keyPickupP50Millis: percentile(keyPicked, 0.5), keyPickupAllMillis: keyPicked.count == count ? (keyPicked.max() ?? .nan) : .nan,
            serverCPUSecondsForKeyRotation: keyServerCPU, configurationRowBytes: configurationBytes
        )
    }

    /// Records opt-outs at `optOutsPerSecond` for `seconds`, each tracked from its acknowledgement.
    private func recordOptOuts(_ writer: PostgresStore, tracker: OptOutTracker, seconds: Double) async throws {
        let start = ContinuousClock.now
        let gap = Duration.milliseconds(Int64((1000 / max(settings.optOutsPerSecond, 0.001)).rounded()))
        var next = start
        var generator = SystemRandomNumberGenerator()
        while (ContinuousClock.now - start).seconds < seconds {
            let flh = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let advertisingID = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            try await writer.recordOptOut(OptOutRecord(firstLevelHash: flh, advertisingID: advertisingID, optedOutSinceSeconds: currentMillis() / 1000))
            tracker.add(flh)
            next += gap
            try await Task.sleep(until: next, clock: .continuous)
        }
    }

    private struct Follower {
        let store: PostgresStore
        let holder: SnapshotHolder
        let task: Task<Void, Never>
    }
}

/// Opt-outs acknowledged to the writer, and when each follower first served each one.
final class OptOutTracker: Sendable {
    private struct Pending {
        var flh: [UInt8]
        var acknowledged: ContinuousClock.Instant
        var waiting: Set<Int>
    }

    private struct State {
        var pending: [Pending] = []
        var seen: [Double] = []
        var tracked = 0
    }

    private let followers: Int
    private let state = Mutex(State())

    init(followers: Int) { self.followers = followers }

    func add(_ flh: [UInt8]) {
        let entry = Pending(flh: flh, acknowledged: .now, waiting: Set(0..<followers))
        state.withLock {
            $0.pending.append(entry)
            $0.tracked += 1
        }
    }

    /// Looks every 5 ms until cancelled: the lags it records are accurate to about that.
    func watch(_ holders: [SnapshotHolder]) async {
        while !Task.isCancelled {
            let pending = state.withLock { $0.pending }
            var arrived: [(Int, Int, Double)] = []
            for (entryIndex, entry) in pending.enumerated() {
                for follower in entry.waiting where holders[follower].current.optedOutSince(firstLevelHash: entry.flh) != nil {
                    arrived.append((entryIndex, follower, (ContinuousClock.now - entry.acknowledged).millis))
                }
            }
            if !arrived.isEmpty {
                state.withLock { state in
                    for (entryIndex, follower, lag) in arrived where entryIndex < state.pending.count {
                        if state.pending[entryIndex].waiting.remove(follower) != nil { state.seen.append(lag) }
                    }
                    state.pending.removeAll { $0.waiting.isEmpty }
                }
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    func lags() -> (seen: [Double], tracked: Int, missed: Int) {
        state.withLock { state in (state.seen, state.tracked, state.pending.reduce(0) { $0 + $1.waiting.count }) }
    }
}

func percentile(_ values: [Double], _ fraction: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let index = min(sorted.count - 1, max(0, Int((Double(sorted.count - 1) * fraction).rounded())))
    return sorted[index]
}

extension Duration {
    var millis: Double { seconds * 1000 }
}

/// One decimal, or "n/a" for a value not measured.
func format(_ value: Double) -> String { value.isFinite ? String(format: "%.1f", value) : "n/a" }
