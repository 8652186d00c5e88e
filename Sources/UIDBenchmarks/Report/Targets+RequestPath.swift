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
        for name in ["token/generate", "token/refresh"] {
            guard let result = http.first(where: { $0.scenario.name == name }), let baseline = result.baseline else { continue }
            let ratio = result.summary.requestsPerSecond / baseline.requestsPerSecond
            targets.append(Target(
                name: "\(name) throughput", goal: "≥ \(Format.ratio(requestPathThroughput)) echo", measured: Format.ratio(ratio),
                met: ratio >= requestPathThroughput
            ))
            let p99 = result.summary.p99Micros / baseline.p99Micros
            targets.append(Target(
                name: "\(name) p99 latency", goal: "≤ \(Format.ratio(requestPathP99)) echo", measured: Format.ratio(p99), met: p99 <= requestPathP99
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
