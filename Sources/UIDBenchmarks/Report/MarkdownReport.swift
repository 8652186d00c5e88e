import Foundation
import UIDOperatorCore

/// Renders one run as Markdown: machine and date first, then each part's table and the targets.
struct MarkdownReport {
    var machine: MachineDescription
    var date: Date
    var command: String
    var load: Wrk.Load
    var http: [HTTPBenchmark.Result] = []
    var micro: [Stopwatch.Result] = []
    var startup: ScaleBenchmark.StartupResult?
    var lookups: [ScaleBenchmark.LookupResult] = []
    var saltRotation: SaltRotationBenchmark.Result?
    var administration: [ScaleBenchmark.CommandResult] = []
    var observability: [ObservabilityCost.Result] = []

    func render() -> String {
        var lines: [String] = []
        let stamp = ISO8601DateFormatter().string(from: date)
        lines.append("# Benchmarks")
        lines.append("")
        lines.append("Written by `\(command)` on \(stamp). Regenerate with `scripts/bench`; see docs/PERFORMANCE.md for what the numbers mean and the profiles behind them.")
        lines.append("")
        lines.append("Machine: \(machine.cpuModel), \(machine.cores) cores, \(String(format: "%.0f", machine.memoryGiB)) GiB, Linux \(machine.kernel), \(machine.swiftVersion). Load generator and server share the machine.")
        if !http.isEmpty {
            lines += ["", "## HTTP", ""]
            lines.append("`wrk` with \(load.threads) threads and \(load.connections) connections, \(load.seconds) s per endpoint after a warm-up, on loopback, against one release `uid-operator serve` on the embedded store. Bodies are real encrypted envelopes prepared before each run. Server CPU is user + system time from `/proc` divided by requests. The echo route runs before and after every endpoint; each endpoint's ratios are to the mean of the two echo runs beside it, since the baseline drifts on a shared machine. Token generate and refresh and both identity maps, whose numbers are targets, run again in later rounds after the first pass; their targets read the medians over the rounds (map v2's share of v3 is taken in each round, the two running one after the other).")
            lines.append("")
            lines.append("| endpoint | req/s | req/s ratio to echo | server CPU / request | p50 | p99 | p99 ratio to echo | throughput |")
            lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
            for result in http {
                let throughput = result.scenario.itemsPerRequest > 1
                    ? "\(Format.count(result.itemsPerSecond)) \(result.scenario.itemName)/s" : ""
                // A 5,000-identity request is not comparable with one echo; its measure is identities/s.
                let comparable = result.scenario.itemsPerRequest == 1
                let ratio = result.baseline.flatMap { comparable ? $0 : nil }.map { Format.ratio(result.summary.requestsPerSecond / $0.requestsPerSecond) } ?? ""
                let p99Ratio = result.baseline.flatMap { comparable ? $0 : nil }.map { Format.ratio(result.summary.p99Micros / $0.p99Micros) } ?? ""
                let name = result.scenario.name + (result.round > 1 && !result.scenario.isBaseline ? " (round \(result.round))" : "")
                lines.append("| \(name) | \(Format.count(result.summary.requestsPerSecond)) | \(ratio) | \(Format.micros(result.cpuMicrosPerRequest)) | \(Format.micros(result.summary.p50Micros)) | \(Format.micros(result.summary.p99Micros)) | \(p99Ratio) | \(throughput) |")
            }
        }
        if !observability.isEmpty {
            lines += ["", "## Cost of metrics and logs", ""]
            lines += ObservabilityCost.render(observability, load: load)
        }
        if !micro.isEmpty {
            lines += ["", "## Protocol library and use cases (in process, one thread)", ""]
            lines.append("| benchmark | time per call | per second |")
            lines.append("|---|---:|---:|")
            for result in micro {
                lines.append("| \(result.name) | \(Format.nanos(result.nanosecondsPerCall)) | \(Format.count(result.itemsPerSecond)) \(result.itemName) |")
            }
        }
        if startup != nil || !lookups.isEmpty {
            lines += ["", "## Scale", ""]
        }
        if let startup {
            lines.append("Server start on a store with \(Format.count(Double(startup.buckets))) salt buckets and \(Format.count(Double(startup.optOuts))) opt-outs (each with an advertising id):")
            lines.append("")
            lines.append("| start-up from the index image (launch to listening), median of \(startup.startupTimes.count) | each start from the image, in order | start reading every row (no image) | writing the image (in the background, after that start) | resident memory after start | peak resident memory | building the store |")
            lines.append("|---:|---:|---:|---:|---:|---:|---:|")
            lines.append("| \(Format.seconds(startup.startupTime)) | \(startup.startupTimes.map(Format.seconds).joined(separator: ", ")) | \(Format.seconds(startup.fromRowsTime)) | \(Format.seconds(startup.imageWriteTime)) | \(Format.bytes(startup.residentBytes)) | \(Format.bytes(startup.peakResidentBytes)) | \(startup.storeBuildTime.map(Format.seconds) ?? "reused from an earlier run") |")
            lines.append("")
            lines.append("The starts run one after the other on the same store. The first has its opt-out index image removed: it reads and sorts every opt-out, as a node's first start on a store does, and writes the image once serving. The others start from that image and read only the rows recorded after it, as a node restarting on its own store does. Memory is the largest seen after any start.")
            lines.append("")
        }
        if !administration.isEmpty, let startup {
            lines.append("Administration commands on that store (`--data-dir`), process launch to exit, \(administration[0].times.count) run\(administration[0].times.count == 1 ? "" : "s") each. Each writes or reads a few rows (`optout count` counts the opt-outs); none loads the salt buckets or the opt-out index:")
            lines.append("")
            lines.append("| command | median | slowest |")
            lines.append("|---|---:|---:|")
            for command in administration {
                lines.append("| `\(command.name)` (\(Format.count(Double(startup.optOuts))) opt-outs) | \(Format.seconds(command.median)) | \(Format.seconds(command.worst)) |")
            }
            lines.append("")
        }
        if !lookups.isEmpty {
            lines.append("Opt-out index in process (`OptOutIndex.Builder`, synthetic records each with an advertising id): build time, memory, and lookups with probes cycling through 65,536 keys. Table bytes are the index's own arrays; resident bytes are the process's growth across the build (from 1M entries). The hit, miss and advertising-id columns time one lookup at a time, each waiting for its own trips to memory, as token generate makes its one lookup; the batched columns time lookups made as identity map makes them, \(OperatorSnapshot.mapChunkSize) keys hinted into the cache (`OptOutIndex.prefetch`) and then looked up, so that their misses overlap (per lookup). The next column is the floor under a single lookup: one random read in a buffer the size of the table, each read waiting for the one before (`MemoryFloor`). The last is the identity map use case (5,000 emails, none opted out, a 1,048,576-bucket salt table) over a snapshot holding that index, per identity:")
            lines.append("")
            lines.append("| entries | build | table bytes / entry | resident bytes / entry | hit by first-level hash | miss | hit by advertising id | hit, batched | miss, batched | one read in a table-sized buffer | identity map, per identity |")
            lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for lookup in lookups {
                let resident = lookup.residentBytesPerEntry.map { String(format: "%.1f", $0) } ?? ""
                lines.append("| \(Format.count(Double(lookup.entries))) | \(Format.seconds(lookup.build)) | \(String(format: "%.1f", lookup.tableBytesPerEntry)) | \(resident) | \(Format.nanos(lookup.hit.nanosecondsPerCall)) | \(Format.nanos(lookup.miss.nanosecondsPerCall)) | \(Format.nanos(lookup.advertisingIDHit.nanosecondsPerCall)) | \(Format.nanos(lookup.batchedHit.nanosecondsPerItem)) | \(Format.nanos(lookup.batchedMiss.nanosecondsPerItem)) | \(lookup.memoryFloor.map { Format.nanos($0.nanosecondsPerCall) } ?? "") | \(lookup.map.map { Format.nanos($0.nanosecondsPerCall / Double($0.itemsPerCall)) } ?? "") |")
            }
        }
        if let saltRotation {
            lines += ["", "Salt rotation on a node: \(Format.count(Double(saltRotation.changed))) of \(Format.count(Double(saltRotation.buckets))) buckets (1/365) applied to the table it serves, as `StoreSync` does (into the table's overlay); a whole daily run (\(Format.count(Double(saltRotation.dailyRunChanged))) buckets: the rotated ones and the due ones rescheduled); the background fold of that run's overlay into new flat arrays; rebuilding the table whole:", ""]
            lines.append("| apply 1/365 rotated (median) | runs | apply a daily run (median) | fold (background, median) | full rebuild |")
            lines.append("|---:|---:|---:|---:|---:|")
            lines.append("| \(Format.millis(saltRotation.apply)) | \(saltRotation.applyRuns.map(Format.millis).joined(separator: ", ")) | \(Format.millis(saltRotation.dailyRunApply)) | \(Format.millis(saltRotation.fold)) | \(Format.millis(saltRotation.fullRebuild)) |")
        }
        let targets = Target.evaluate(http: http, startup: startup, lookups: lookups, saltRotation: saltRotation, observability: observability)
        if !targets.isEmpty {
            lines += ["", "## Targets", ""]
            lines.append("| target | goal | measured | |")
            lines.append("|---|---|---:|---|")
            for target in targets {
                lines.append("| \(target.name) | \(target.goal) | \(target.measured) | \(target.met ? "met" : "**not met**") |")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
