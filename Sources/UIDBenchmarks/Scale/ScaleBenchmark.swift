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
        /// Launch to listening of a start without the opt-out index image (removed first): it reads
        /// and sorts every opt-out, as a node's first start on a store does, and then writes the image.
        let fromRowsTime: Duration
        /// The time that start took to write the image, in the background after it was serving.
        let imageWriteTime: Duration
        /// Launch to listening, for each start from the image in order, after the one from rows.
        let startupTimes: [Duration]
        /// The largest resident and peak memory seen after any of the starts.
        let residentBytes: Int
        let peakResidentBytes: Int

        /// The median start: what a node restarting on its own store typically takes.
        var startupTime: Duration { startupTimes.sorted()[startupTimes.count / 2] }

        /// The median with how many starts it was taken from, for the targets table.
        var medianLabel: String {
            let starts = startupTimes.count == 1 ? "one start" : "median of \(startupTimes.count)"
            return "\(Format.seconds(startupTime)) (from the index image, \(starts); reading every row: \(Format.seconds(fromRowsTime)))"
        }
    }

    struct LookupResult {
        let entries: Int
        let hit: Stopwatch.Result
        let miss: Stopwatch.Result
        let advertisingIDHit: Stopwatch.Result
        /// First-level-hash lookups made as identity map makes them: a chunk's keys hinted into the
        /// cache first (`OptOutIndex.prefetch`), then looked up, so that their misses overlap.
        /// Per lookup (`itemsPerCall` is the chunk).
        let batchedHit: Stopwatch.Result
        let batchedMiss: Stopwatch.Result
        /// Appending the records and sorting them into the flat table.
        let build: Duration
        /// The table's own arrays (their capacity) per entry.
        let tableBytesPerEntry: Double
        /// Growth of this process's resident memory from before the build to after it, per entry;
        /// nil below a million entries, where allocator noise would dominate.
        let residentBytesPerEntry: Double?
        /// One dependent random read in a buffer the size of the table (`MemoryFloor`): what a
        /// lookup cannot beat, however the table is laid out. Nil past 10M entries.
        let memoryFloor: Stopwatch.Result?
        /// The identity map use case (5,000 emails, none opted out) over a snapshot holding this
        /// index: every identity's opt-out check is a miss in it. Nil when not asked for.
        let map: Stopwatch.Result?
    }

    /// One administration command run several times on the scale store, process launch to exit.
    struct CommandResult {
        let name: String
        let times: [Duration]

        var median: Duration { times.sorted()[times.count / 2] }
        var worst: Duration { times.max() ?? .zero }
    }

    let operatorBinary: URL
    let workDirectory: URL

    /// The store is kept between runs (building 10M opt-outs takes a while), keyed by its size.
    /// The server is started `starts` times, one after the other, on the same store.
    func startup(optOuts count: Int, starts: Int = 3, progress: (String) -> Void) async throws -> StartupResult {
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
        var times: [Duration] = []
        var resident = 0
        var peak = 0
        var fromRows = Duration.zero, imageWrite = Duration.zero
        // The first start has no image: it reads every row and writes the image the others read.
        let image = directory.appendingPathComponent(SQLiteStore.fileName + "-optout-index")
        try? FileManager.default.removeItem(at: image)
        for run in 0...max(starts, 1) {
            progress(run == 0
                ? "starting uid-operator on \(count) opt-outs, reading every row (no index image)"
                : "starting uid-operator on \(count) opt-outs from the index image (\(run) of \(max(starts, 1)))")
            // Imaged at any size, so the smoke run's small store takes the same path.
            let server = try OperatorProcess(binary: operatorBinary, dataDirectory: directory, extraArguments: ["--optout-image-minimum", "1"])
            defer { server.stop() }
            try await server.waitUntilServing(timeout: .seconds(600))
            let loaded = try await server.waitForLogLine(containing: "Loaded store", timeout: .seconds(10))
            let expected = run == 0 ? "optouts_from=rows" : "optouts_from=image"
            guard loaded.contains(expected) else { throw BenchmarkFailure("start \(run) did not load its opt-outs as expected (\(expected)): \(loaded)") }
            if run == 0 {
                fromRows = server.startupTime
                let written = try await server.waitForLogLine(containing: "Wrote the opt-out index image", timeout: .seconds(600))
                // The server's own measure of the write (its log's `seconds=`).
                let seconds = written.split(separator: " ").first { $0.hasPrefix("seconds=") }.flatMap { Double($0.dropFirst("seconds=".count)) }
                imageWrite = .milliseconds(Int64(exactly: ((seconds ?? 0) * 1_000).rounded()) ?? 0)
            } else {
                times.append(server.startupTime)
            }
            // Let start-up garbage settle (freed pages, the first sync) before reading memory.
            try await Task.sleep(for: .seconds(1))
            guard let memory = server.stats.memory() else { throw BenchmarkFailure("cannot read the server's memory") }
            resident = max(resident, memory.resident)
            peak = max(peak, memory.peak)
        }
        return StartupResult(
            optOuts: count, buckets: InitialDataset.bucketCount, storeBuildTime: buildTime, fromRowsTime: fromRows,
            imageWriteTime: imageWrite, startupTimes: times, residentBytes: resident, peakResidentBytes: peak
        )
    }

    /// Commands that change one row, on the store `startup` built (run it first): they must not
    /// load the salt buckets or the opt-outs. Each adds a row to the kept store, which is harmless.
    func administration(optOuts count: Int, runs: Int, progress: (String) -> Void) throws -> [CommandResult] {
        let directory = workDirectory.appendingPathComponent("scale-store-\(count)").path
        let tag = "\(ProcessInfo.processInfo.processIdentifier)-\(currentMillis())"
        let siteBase = Int32(truncatingIfNeeded: currentMillis() % 1_000_000) + 100_000
        let commands: [(String, (Int) -> [String])] = [
            ("optout add --email", { ["optout", "add", "--email", "bench.\(tag).\($0)@example.com", "--json"] }),
            ("client create", { _ in ["client", "create", "--site-id", "999", "--roles", "GENERATOR", "--json"] }),
            ("site create", { ["site", "create", "--site-id", "\(siteBase + Int32($0))", "--name", "Bench \($0)", "--json"] }),
            ("keys rotate", { _ in ["keys", "rotate", "--keyset-id", "3", "--json"] }),
            ("optout count", { _ in ["optout", "count", "--json"] }),
        ]
        return try commands.map { name, arguments in
            progress("\(name) on \(count) opt-outs, \(runs) runs")
            let times = try (0..<runs).map { run in
                try Self.time(binary: operatorBinary, arguments: arguments(run) + ["--data-dir", directory])
            }
            return CommandResult(name: name, times: times)
        }
    }

    private static func time(binary: URL, arguments: [String]) throws -> Duration {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        let started = ContinuousClock.now
        try process.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let elapsed = ContinuousClock.now - started
        guard process.terminationStatus == 0 else {
            throw BenchmarkFailure("`uid-operator \(arguments.joined(separator: " "))` exited \(process.terminationStatus): \(String(decoding: output, as: UTF8.self))")
        }
        return elapsed
    }

    /// Builds an index of `entries` synthetic opt-outs (each with an advertising id) the way a
    /// node's start does, then looks up first-level hashes that are present (hit) and absent
    /// (miss), and advertising ids that are present, cycling through more probes than fit in
    /// cache so large indexes pay their real memory latency.
    /// With `mapOver`, the identity map use case is timed over those contents with this index as
    /// their opt-outs, so that the map's own cost can be read against the index's size.
    static func lookup(entries: Int, budget: Duration, mapOver contents: StoreContents? = nil) -> LookupResult {
        var generator = FastRandom(seed: UInt64(entries))
        let probes = 65_536
        let every = max(entries / probes, 1)
        var present: [[UInt8]] = []
        var presentIDs: [[UInt8]] = []
        present.reserveCapacity(probes)
        presentIDs.reserveCapacity(probes)
        let stats = ProcessStats(pid: getpid())
        let residentBefore = stats.memory()?.resident
        let started = ContinuousClock.now
        var builder = OptOutIndex.Builder(capacity: entries)
        var words = [UInt64](repeating: 0, count: 8)
        for position in 0..<entries {
            for word in words.indices { words[word] = generator.next() }
            words.withUnsafeBytes { raw in
                let flh = UnsafeRawBufferPointer(rebasing: raw[0..<32])
                let advertisingID = UnsafeRawBufferPointer(rebasing: raw[32..<64])
                builder.append(firstLevelHash: flh, advertisingID: advertisingID, optedOutSinceSeconds: 1_700_000_000)
                if position % every == 0, present.count < probes {
                    present.append(Array(flh))
                    presentIDs.append(Array(advertisingID))
                }
            }
        }
        let index = builder.build()
        let build = ContinuousClock.now - started
        let residentAfter = stats.memory()?.resident
        present.shuffle(using: &generator)
        presentIDs.shuffle(using: &generator)
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
        let idHit = Stopwatch.measure("opt-out lookup by advertising id, hit, \(entries) entries", budget: budget) {
            cursor = cursor &+ 1
            blackHole(index.optedOutSince(advertisingID: presentIDs[cursor % presentIDs.count]))
        }
        let presentKeys = present.compactMap(FirstLevelHashKey.init)
        let absentKeys = absent.compactMap(FirstLevelHashKey.init)
        let batchedHit = batchedLookups("opt-out lookup, hit, batched, \(entries) entries", index: index, keys: presentKeys, budget: budget)
        let batchedMiss = batchedLookups("opt-out lookup, miss, batched, \(entries) entries", index: index, keys: absentKeys, budget: budget)
        let floor = entries <= 10_000_000 ? MemoryFloor.dependentRead(bytes: index.tableBytes, budget: budget) : nil
        var map: Stopwatch.Result?
        if var contents {
            contents.optOuts = index
            if let snapshot = try? OperatorSnapshot(config: OperatorConfig(), contents: contents) {
                let request = IdentityMapRequest(inputs: [.email: (0..<5_000).map(BenchmarkFixture.email)])
                let now = currentMillis()
                map = Stopwatch.measure("use case: identity map, 5,000 emails, \(entries) opt-outs", itemsPerCall: 5_000, itemName: "identities", budget: budget) {
                    blackHole(snapshot.mapIdentities(request, nowMillis: now))
                }
            }
        }
        var resident: Double?
        if entries >= 1_000_000, let residentBefore, let residentAfter {
            resident = Double(residentAfter - residentBefore) / Double(entries)
        }
        return LookupResult(
            entries: entries, hit: hit, miss: miss, advertisingIDHit: idHit, batchedHit: batchedHit, batchedMiss: batchedMiss, build: build,
            tableBytesPerEntry: Double(index.tableBytes) / Double(max(entries, 1)), residentBytesPerEntry: resident,
            memoryFloor: floor, map: map
        )
    }

    /// Times `keys` looked up a chunk at a time as `OperatorSnapshot.mapEach` does: hint the
    /// chunk's keys, then look each up. Consecutive chunks cycle through `keys`.
    static func batchedLookups(_ name: String, index: OptOutIndex, keys: [FirstLevelHashKey], budget: Duration) -> Stopwatch.Result {
        let chunk = OperatorSnapshot.mapChunkSize
        let chunks = keys.count / chunk
        var cursor = 0
        return keys.withUnsafeBufferPointer { keys in
            Stopwatch.measure(name, itemsPerCall: chunk, itemName: "lookups", budget: budget) {
                let start = (cursor % max(chunks, 1)) * chunk
                cursor = cursor &+ 1
                let slice = UnsafeBufferPointer(rebasing: keys[start..<min(start + chunk, keys.count)])
                index.prefetch(firstLevelHashes: slice)
                for key in slice { blackHole(index.optedOutSince(firstLevelHash: key)) }
            }
        }
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
