import ArgumentParser
import Foundation
import Logging

/// The followers part's options, its runs (one per follower count) and its report: a Markdown
/// table on stdout and, with `--followers-output`, the results as JSON for the plot.
struct FollowerOptions: ParsableArguments {
    @Option(help: "Follower counts, comma-separated.")
    var followers = "1,10,50,100"

    @Option(help: "A PostgreSQL server on this machine (its CPU is read from /proc); each run makes and drops its own database. Default: $UID_BENCH_POSTGRES_URL.")
    var postgresURL: String?

    @Option(help: "Salt buckets in the simulated store.")
    var buckets = 1_048_576

    @Option(help: "Opt-outs the writer records per second.")
    var optOutRate = 20.0

    @Option(help: "Seconds of steady opt-out traffic per run (default 20; 3 with --smoke).")
    var steadySeconds: Double?

    @Option(help: "Each follower's poll interval in milliseconds (the operator's default is 500).")
    var pollMs: Int64 = 500

    @Option(help: "Each follower delays a reload by a random part of this many milliseconds.")
    var reloadSpreadMs: Int64 = 0

    @Option(help: "Fraction of the salt buckets the rotation rotates.")
    var saltFraction = 1.0 / 365

    @Option(help: "Write the results as JSON here.")
    var followersOutput: String?

    func run(smoke: Bool, log: @escaping (String) -> Void) async throws {
        guard let url = postgresURL ?? ProcessInfo.processInfo.environment["UID_BENCH_POSTGRES_URL"] else {
            throw ValidationError("the followers part needs --postgres-url or UID_BENCH_POSTGRES_URL (scripts/simulate-followers starts a server)")
        }
        let counts = followers.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 }
        guard !counts.isEmpty else { throw ValidationError("--followers needs positive counts, e.g. 1,10,50,100") }
        var logger = Logger(label: "uid-bench.followers")
        logger.logLevel = .error
        let simulation = FollowerSimulation(
            settings: .init(serverURL: url, bucketCount: buckets, optOutsPerSecond: optOutRate, steadySeconds: steadySeconds ?? (smoke ? 3 : 20),
                            pollMillis: pollMs, reloadSpreadMillis: reloadSpreadMs, saltFraction: saltFraction),
            logger: logger, log: log
        )
        var results: [FollowerSimulation.Result] = []
        for count in counts {
            log("Followers: \(count)")
            results.append(try await simulation.run(followers: count))
        }
        print(Self.markdown(results))
        if let followersOutput {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            try encoder.encode(results).write(to: URL(fileURLWithPath: followersOutput))
            log("Wrote \(followersOutput)")
        }
    }

    static func markdown(_ results: [FollowerSimulation.Result]) -> String {
        var lines = [
            "| followers | connections | server CPU (cores) | transactions/s | opt-out lag p50 / p99 / max (ms) | salt pickup p50 / all (ms) | rotation: buckets, row bytes | server CPU s per rotation | key rotation pickup p50 / all (ms) | server CPU s per key rotation | follower-side CPU (cores) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for result in results {
            lines.append("| \(result.followers) | \(result.connections) | \(String(format: "%.3f", result.serverCPUCoresSteady)) | \(format(result.transactionsPerSecond)) | "
                + "\(format(result.optOutLagP50Millis)) / \(format(result.optOutLagP99Millis)) / \(format(result.optOutLagMaxMillis)) | "
                + "\(format(result.saltPickupP50Millis)) / \(format(result.saltPickupAllMillis)) | \(result.rotatedBuckets), \(result.rotatedRowBytes) | "
                + "\(String(format: "%.3f", result.serverCPUSecondsForRotation)) | \(format(result.keyPickupP50Millis)) / \(format(result.keyPickupAllMillis)) | "
                + "\(String(format: "%.3f", result.serverCPUSecondsForKeyRotation)) | \(String(format: "%.2f", result.followerCPUCoresSteady)) |")
        }
        return lines.joined(separator: "\n")
    }
}
