import ArgumentParser
import Foundation
import UIDOperatorCore

/// `uid-bench`: the operator's benchmark suite. `scripts/bench` builds in release mode and runs it;
/// the numbers land in BENCHMARKS.md. Nothing here asserts a timing; it fails only when the thing
/// measured does not work (a non-200 answer, a server that does not start).
@main
struct UIDBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uid-bench",
        abstract: "Benchmarks the operator: HTTP endpoints against an echo baseline, the protocol library, and start-up at scale."
    )

    enum Part: String, ExpressibleByArgument, CaseIterable {
        case http, micro, scale, observability, followers
    }

    @Option(help: "Parts to run (repeatable): http, micro, scale, observability, followers. Default: all but followers (it needs PostgreSQL).")
    var part: [Part] = []

    @Flag(help: "A short run that only proves the suite works (CI): 1 s per endpoint, 100k opt-outs, short micro-benchmarks.")
    var smoke = false

    @Option(help: "The uid-operator binary to serve with. Default: the one next to uid-bench.")
    var operatorBinary: String?

    @Option(help: "Where stores, request bodies and logs go. Default: .build/benchmarks.")
    var workDirectory = ".build/benchmarks"

    @Option(help: "Write the Markdown report here.")
    var output: String?

    @Option(help: "Seconds per endpoint under load.")
    var seconds: Int?

    @Option(help: "wrk connections.")
    var connections = 64

    @Option(help: "wrk threads.")
    var threads = 2

    @Option(help: "Run only the HTTP endpoints whose path contains this text (repeatable), e.g. generate.")
    var only: [String] = []

    @Option(help: "A command the server runs under, for profiling, e.g. \"valgrind --tool=callgrind\".")
    var serverWrapper: String?

    @Option(help: "A uid-operator build to compare with in the observability part (e.g. one from before metrics existed).")
    var compareBinary: String?

    @Option(help: "Runs of token generate, refresh and both identity maps in the HTTP part, whose targets read the median (default 3; 1 with --smoke).")
    var httpRounds: Int?

    @Option(help: "Rounds of the observability part, the settings' order reversed every other round (default 4; 1 with --smoke).")
    var observabilityRounds: Int?

    @Option(help: "Opt-outs in the scale run's store.")
    var optOuts: Int?

    @Option(help: "Entries of the in-memory opt-out index built after the 10M lookups (default 100,000,000; 0 skips; never with --smoke).")
    var syntheticOptOuts: Int?

    @OptionGroup(title: "Followers part (store sync of many nodes against one PostgreSQL)")
    var followerOptions: FollowerOptions

    func run() async throws {
        let parts = Set(part.isEmpty ? Part.allCases.filter { $0 != .followers } : part)
        if parts.contains(.followers) {
            try await followerOptions.run(smoke: smoke, log: log)
            if parts == [.followers] { return }
        }
        let work = URL(fileURLWithPath: workDirectory, isDirectory: true)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let binary = operatorBinary.map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("uid-operator")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw BenchmarkFailure("no uid-operator at \(binary.path); build it with `swift build -c release` or pass --operator-binary")
        }
        let load = Wrk.Load(threads: threads, connections: connections, seconds: seconds ?? (smoke ? 1 : 10))
        var report = MarkdownReport(
            machine: .current(), date: Date(), command: "uid-bench" + (smoke ? " --smoke" : ""), load: load
        )

        // A new store per run: the HTTP part and the micro-benchmarks use its keys and salts.
        let fixtureDirectory = work.appendingPathComponent("run-\(ProcessInfo.processInfo.processIdentifier)")
        defer { try? FileManager.default.removeItem(at: fixtureDirectory) }
        let fixture = try await BenchmarkFixture.create(in: fixtureDirectory, nowMillis: currentMillis())

        if parts.contains(.http) {
            log("HTTP: \(load.seconds) s per endpoint, \(load.connections) connections")
            report.http = try await HTTPBenchmark(
                operatorBinary: binary, fixture: fixture, load: load, warmupSeconds: smoke ? 0 : 2,
                mapBatchSize: fixture.snapshot.config.identityMapMaxBatchSize,
                only: only, serverWrapper: serverWrapper.map { $0.split(separator: " ").map(String.init) } ?? [],
                rounds: httpRounds ?? (smoke ? 1 : 3)
            ).run { log("  \($0)") }
        }
        if parts.contains(.observability) {
            let rounds = observabilityRounds ?? (smoke ? 1 : 4)
            log("Observability cost: token/generate with metrics on and off, \(rounds) rounds")
            report.observability = try await ObservabilityCost(
                operatorBinary: binary, fixture: fixture, load: load, warmupSeconds: smoke ? 0 : 2,
                mapBatchSize: fixture.snapshot.config.identityMapMaxBatchSize, rounds: rounds,
                beforeBinary: compareBinary.map { URL(fileURLWithPath: $0) }
            ).run { log("  \($0)") }
        }
        if parts.contains(.micro) {
            log("Micro-benchmarks")
            report.micro = ProtocolBenchmarks.run(fixture: fixture, budget: smoke ? .milliseconds(20) : .milliseconds(500)) { log("  \($0)") }
        }
        if parts.contains(.scale) {
            let scale = ScaleBenchmark(operatorBinary: binary, workDirectory: work)
            let count = optOuts ?? (smoke ? 100_000 : 10_000_000)
            log("Scale: \(count) opt-outs")
            report.startup = try await scale.startup(optOuts: count) { log("  \($0)") }
            report.administration = try scale.administration(optOuts: count, runs: smoke ? 1 : 5) { log("  \($0)") }
            let synthetic = smoke ? [] : [syntheticOptOuts ?? 100_000_000].filter { $0 > 0 }
            // The identity map over each index: a full salt table, as a node serves.
            let mapContents = InitialDataset.generate(
                scope: .uid2, environment: .test, nowMillis: currentMillis(), bucketCount: smoke ? 65_536 : InitialDataset.bucketCount
            ).0
            for entries in (smoke ? [10_000, 100_000] : [10_000, 100_000, 1_000_000, 10_000_000]) + synthetic {
                log("  opt-out lookups, \(entries) entries")
                report.lookups.append(ScaleBenchmark.lookup(
                    entries: entries, budget: smoke ? .milliseconds(20) : .milliseconds(500), mapOver: mapContents
                ))
            }
            let buckets = smoke ? 65_536 : InitialDataset.bucketCount
            log("  salt rotation of 1/365 of \(buckets) buckets, applied on a node")
            report.saltRotation = SaltRotationBenchmark.run(buckets: buckets, runs: smoke ? 3 : 7)
        }

        let markdown = report.render()
        print(markdown)
        if let output {
            try markdown.write(toFile: output, atomically: true, encoding: .utf8)
            log("Wrote \(output)")
        }
    }

    private func log(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
