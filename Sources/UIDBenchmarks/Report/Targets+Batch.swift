/// The batch endpoints' targets: identity map v3 throughput on this machine, and v2 close to it
/// (both map the same emails, so they differ only in the request and answer formats).
///
/// Batch isolation (generate's p99 while map requests keep every core busy, at most 2× its p99
/// alone) is measured by scripts/bench-isolation: it needs an open-loop client next to the map
/// load, which wrk's closed loops do not give.
extension Target {
    static let mapV3IdentitiesPerSecond = 1_200_000.0
    static let mapV2ShareOfV3 = 0.9

    /// With several rounds, v3 reads the median of its runs, and v2 the median of its share of v3
    /// in the same round (the two run one after the other, so each pair sees the same machine).
    static func batch(http: [HTTPBenchmark.Result]) -> [Target] {
        var targets: [Target] = []
        let v3 = http.filter { $0.scenario.path == "/v3/identity/map" }.map(\.itemsPerSecond)
        let v2 = http.filter { $0.scenario.path == "/v2/identity/map" }.map(\.itemsPerSecond)
        if !v3.isEmpty {
            let middle = median(v3)
            targets.append(Target(
                name: "identity/map v3 throughput", goal: "≥ \(Format.count(mapV3IdentitiesPerSecond)) identities/s",
                measured: countLabel(middle, v3), met: middle >= mapV3IdentitiesPerSecond
            ))
        }
        let shares = zip(v2, v3).compactMap { v2, v3 in v3 > 0 ? v2 / v3 : nil }
        if !shares.isEmpty {
            let share = median(shares)
            targets.append(Target(
                name: "identity/map v2 throughput", goal: "≥ \(Format.ratio(mapV2ShareOfV3)) v3",
                measured: "\(Format.count(median(v2))) identities/s; share of v3 \(label(share, shares))", met: share >= mapV2ShareOfV3
            ))
        }
        return targets
    }

    /// "677,244 identities/s", or with several rounds "… (median of 3 rounds: …)".
    static func countLabel(_ median: Double, _ rounds: [Double]) -> String {
        guard rounds.count > 1 else { return Format.count(median) + " identities/s" }
        return "\(Format.count(median)) identities/s (median of \(rounds.count) rounds: \(rounds.map(Format.count).joined(separator: ", ")))"
    }
}
