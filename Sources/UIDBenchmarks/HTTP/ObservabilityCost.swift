import Foundation

/// What metrics and logging cost generate: the same load against servers that differ only in
/// their observability flags, alternated over several rounds (a shared machine drifts; the median
/// of the rounds and the echo runs beside each generate run keep that drift out of the ratio).
/// Every other round runs the settings in reverse order, so that a drift during a round does not
/// always favour the same setting.
struct ObservabilityCost {
    struct Setting {
        let name: String
        let arguments: [String]
        /// Another build to serve with (the one before observability existed), else the suite's.
        var binary: URL?
    }

    struct Result {
        let setting: Setting
        /// Per round: generate's requests/s, and its ratio to the echo runs beside it.
        var requestsPerSecond: [Double] = []
        var ratiosToEcho: [Double] = []
        var p99Micros: [Double] = []
        var cpuMicrosPerRequest: [Double] = []
    }

    static let settings = [
        Setting(name: "metrics off (`--no-metrics`)", arguments: ["--no-metrics"]),
        Setting(name: "defaults (metrics on, text logs, no access log)", arguments: []),
        Setting(name: "metrics on, JSON access log (`--log-format json --access-log`)", arguments: ["--log-format", "json", "--access-log"]),
    ]

    let operatorBinary: URL
    let fixture: BenchmarkFixture
    let load: Wrk.Load
    let warmupSeconds: Int
    let mapBatchSize: Int
    let rounds: Int
    /// `--compare-binary`: served with its defaults as the first setting.
    var beforeBinary: URL?

    func run(progress: (String) -> Void) async throws -> [Result] {
        var settings = Self.settings
        if let beforeBinary {
            settings.insert(Setting(name: "before: `\(beforeBinary.lastPathComponent)` (its defaults)", arguments: [], binary: beforeBinary), at: 0)
        }
        var results = settings.map { Result(setting: $0) }
        for round in 1...max(rounds, 1) {
            let order = round % 2 == 1 ? Array(results.indices) : results.indices.reversed()
            for index in order {
                progress("round \(round): \(results[index].setting.name)")
                var benchmark = HTTPBenchmark(
                    operatorBinary: results[index].setting.binary ?? operatorBinary, fixture: fixture, load: load, warmupSeconds: warmupSeconds, mapBatchSize: mapBatchSize,
                    only: ["/v2/token/generate"]
                )
                benchmark.serverArguments = results[index].setting.arguments
                let runs = try await benchmark.run { _ in }
                guard let generate = runs.first(where: { !$0.scenario.isBaseline }) else { throw BenchmarkFailure("no generate run") }
                results[index].requestsPerSecond.append(generate.summary.requestsPerSecond)
                results[index].p99Micros.append(generate.summary.p99Micros)
                results[index].cpuMicrosPerRequest.append(generate.cpuMicrosPerRequest)
                if let baseline = generate.baseline { results[index].ratiosToEcho.append(generate.summary.requestsPerSecond / baseline.requestsPerSecond) }
            }
        }
        return results
    }

    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    static func render(_ results: [Result], load: Wrk.Load) -> [String] {
        var lines: [String] = []
        let rounds = results.first?.requestsPerSecond.count ?? 0
        lines.append("token/generate against servers that differ only in their observability flags, one server per run, the settings alternated over \(rounds) round\(rounds == 1 ? "" : "s"), in reverse order every other round (\(load.seconds) s each, echo before and after every run). Medians over the rounds; \"vs. off\" compares each setting's median ratio to echo with that of metrics off, which cancels most of the machine's drift.")
        lines.append("")
        lines.append("| setting | req/s | req/s ratio to echo | vs. off | server CPU / request | p99 |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        let off = results.first { $0.setting.arguments == ["--no-metrics"] }.flatMap { median($0.ratiosToEcho) }
        for result in results {
            let ratio = median(result.ratiosToEcho)
            var versusOff = ""
            if let ratio, let off, off > 0 { versusOff = String(format: "%+.1f %%", (ratio / off - 1) * 100) }
            lines.append("| \(result.setting.name) | \(median(result.requestsPerSecond).map(Format.count) ?? "") | \(ratio.map(Format.ratio) ?? "") | \(versusOff) | \(median(result.cpuMicrosPerRequest).map(Format.micros) ?? "") | \(median(result.p99Micros).map(Format.micros) ?? "") |")
        }
        return lines
    }
}
