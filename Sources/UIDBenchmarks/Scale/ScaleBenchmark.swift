import Foundation
import UIDOperatorCore
import UIDProtocol
import UIDStore

/// Start-up time and memory of a server on a full salt table and many opt-outs, and the cost of
/// one opt-out lookup as the index grows.
struct ScaleBenchmark {
    struct StartupResult {
        let optOuts: Int
        let buckets: Int
        let storeBuildTime: Duration?
        let startupTime: Duration
        let residentBytes: Int
        let peakResidentBytes: Int
    }

    struct LookupResult {
        let entries: Int
        let hit: Stopwatch.Result
        let miss: Stopwatch.Result
    }

    let operatorBinary: URL
    let workDirectory: URL

    /// The store is kept between runs (building 10M opt-outs takes a while), keyed by its size.
    func startup(optOuts count: Int, progress: (String) -> Void) async throws -> StartupResult {
        let directory = workDirectory.appendingPathComponent("scale-store-\(count)")
        let ready = directory.appendingPathComponent("complete")
        var buildTime: Duration?
        if !FileManager.default.fileExists(atPath: ready.path) {
            try? FileManager.default.removeItem(at: directory)
            progress("building a store with \(count) opt-outs (kept in \(directory.path) for later runs)")
            let started = ContinuousClock.now
            let store = try SQLiteStore(directory: directory)
            _ = try await StoreBootstrap.seedIfEmpty(store, scope: .uid2, environment: .test, nowMillis: currentMillis())
            var generator = FastRandom(seed: UInt64(count))
            let batch = 500_000
            for start in stride(from: 0, to: count, by: batch) {
                let records = (start..<min(start + batch, count)).map { _ in
                    OptOutRecord(
                        firstLevelHash: Self.randomBytes(32, using: &generator), advertisingID: Self.randomBytes(32, using: &generator),
                        optedOutSinceSeconds: 1_700_000_000 + Int64.random(in: 0..<50_000_000, using: &generator)
                    )
                }
                try store.importOptOuts(records)
            }
            buildTime = ContinuousClock.now - started
            _ = FileManager.default.createFile(atPath: ready.path, contents: nil)
        }
        progress("starting uid-operator on \(count) opt-outs")
        let server = try OperatorProcess(binary: operatorBinary, dataDirectory: directory)
        defer { server.stop() }
        try await server.waitUntilServing(timeout: .seconds(600))
        // Let start-up garbage settle (freed pages, the first sync) before reading memory.
        try await Task.sleep(for: .seconds(1))
        guard let memory = server.stats.memory() else { throw BenchmarkFailure("cannot read the server's memory") }
        return StartupResult(
            optOuts: count, buckets: InitialDataset.bucketCount, storeBuildTime: buildTime, startupTime: server.startupTime,
            residentBytes: memory.resident, peakResidentBytes: memory.peak
        )
    }

    /// Looks up first-level hashes that are present (hit) and absent (miss), cycling through more
    /// probes than fit in cache so large indexes pay their real memory latency.
    static func lookup(entries: Int, budget: Duration) -> LookupResult {
        var generator = FastRandom(seed: UInt64(entries))
        var index = OptOutIndex(minimumCapacity: entries)
        var present: [[UInt8]] = []
        let probes = 65_536
        present.reserveCapacity(probes)
        for position in 0..<entries {
            let flh = randomBytes(32, using: &generator)
            index.insert(firstLevelHash: flh, advertisingID: randomBytes(32, using: &generator), optedOutSinceSeconds: 1_700_000_000)
            if position % max(entries / probes, 1) == 0, present.count < probes { present.append(flh) }
        }
        present.shuffle(using: &generator)
        let absent = (0..<probes).map { _ in randomBytes(32, using: &generator) }
        var cursor = 0
        let hit = Stopwatch.measure("opt-out lookup, hit, \(entries) entries", budget: budget) {
            cursor = cursor &+ 1
            blackHole(index.optedOutSince(firstLevelHash: present[cursor % present.count]))
        }
        let miss = Stopwatch.measure("opt-out lookup, miss, \(entries) entries", budget: budget) {
            cursor = cursor &+ 1
            blackHole(index.optedOutSince(firstLevelHash: absent[cursor % absent.count]))
        }
        return LookupResult(entries: entries, hit: hit, miss: miss)
    }

    static func randomBytes(_ count: Int, using generator: inout FastRandom) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        for offset in stride(from: 0, to: count, by: 8) {
            withUnsafeBytes(of: generator.next() as UInt64) { word in
                for (position, byte) in word.prefix(count - offset).enumerated() { bytes[offset + position] = byte }
            }
        }
        return bytes
    }
}
