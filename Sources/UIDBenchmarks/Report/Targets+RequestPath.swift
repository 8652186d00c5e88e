import Foundation

/// The request path's targets: token generate and refresh against the same server's echo
/// (issue 14), and what metrics and logging at their defaults cost generate (issue 11).
extension Target {
    static let requestPathThroughput = 0.75
    static let requestPathP99 = 1.5
    /// Largest share of generate's throughput the observability defaults may cost against `--no-metrics`.
    static let observabilityCost = 0.05

    static func requestPath(http: [HTTPBenchmark.Result], observability: [ObservabilityCost.Result]) -> [Target] {
        var targets: [Target] = []
        for name in LoadScenario.ratioTargeted {
            // Each round's ratios to the echo runs beside it; the targets read their medians.
            let rounds = http.filter { $0.scenario.name == name }.compactMap { result in
                result.baseline.map { (result.summary.requestsPerSecond / $0.requestsPerSecond, result.summary.p99Micros / $0.p99Micros) }
            }
            guard !rounds.isEmpty else { continue }
            let ratio = median(rounds.map(\.0)), p99 = median(rounds.map(\.1))
            targets.append(Target(
                name: "\(name) throughput", goal: "≥ \(Format.ratio(requestPathThroughput)) echo", measured: label(ratio, rounds.map(\.0)),
                met: ratio >= requestPathThroughput
            ))
            targets.append(Target(
                name: "\(name) p99 latency", goal: "≤ \(Format.ratio(requestPathP99)) echo", measured: label(p99, rounds.map(\.1)), met: p99 <= requestPathP99
            ))
        }
        if let cost = observabilityDefaultsCost(observability) {
            // Ratios to the echo run beside each generate run, so the machine's drift between runs cancels.
            targets.append(Target(
                name: "token/generate throughput, observability defaults vs. `--no-metrics`",
                goal: String(format: "< %.0f %% lower", observabilityCost * 100), measured: String(format: "%+.1f %%", -cost * 100),
                met: cost < observabilityCost
            ))
        }
        return targets
    }

    /// The middle value (the upper middle of an even count).
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    /// "0.77×", or with several rounds "0.77× (median of 3 rounds: 0.73×, 0.79×, 0.77×)".
    static func label(_ median: Double, _ rounds: [Double]) -> String {
        guard rounds.count > 1 else { return Format.ratio(median) }
        return "\(Format.ratio(median)) (median of \(rounds.count) rounds: \(rounds.map(Format.ratio).joined(separator: ", ")))"
    }

    /// The share of throughput (relative to echo, medians over the rounds) the defaults lose
    /// against metrics off; nil when the observability part did not run.
    static func observabilityDefaultsCost(_ results: [ObservabilityCost.Result]) -> Double? {
        let off = results.first { $0.setting.binary == nil && $0.setting.arguments == ["--no-metrics"] }
        let defaults = results.first { $0.setting.binary == nil && $0.setting.arguments.isEmpty }
        guard let offRatio = off.flatMap({ ObservabilityCost.median($0.ratiosToEcho) }), offRatio > 0,
              let defaultsRatio = defaults.flatMap({ ObservabilityCost.median($0.ratiosToEcho) })
        else { return nil }
        return 1 - defaultsRatio / offRatio
    }
}
