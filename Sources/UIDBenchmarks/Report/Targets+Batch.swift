/// The batch endpoints' targets: identity map v3 throughput on this machine, and v2 close to it
/// (both map the same emails, so they differ only in the request and answer formats).
///
/// Batch isolation (generate's p99 while map requests keep every core busy, at most 2× its p99
/// alone) is measured by scripts/bench-isolation: it needs an open-loop client next to the map
/// load, which wrk's closed loops do not give.
extension Target {
    static let mapV3IdentitiesPerSecond = 1_200_000.0
    static let mapV2ShareOfV3 = 0.9

    static func batch(http: [HTTPBenchmark.Result]) -> [Target] {
        var targets: [Target] = []
        let v3 = http.first { $0.scenario.path == "/v3/identity/map" }
        let v2 = http.first { $0.scenario.path == "/v2/identity/map" }
        if let v3 {
            targets.append(Target(
                name: "identity/map v3 throughput", goal: "≥ \(Format.count(mapV3IdentitiesPerSecond)) identities/s",
                measured: Format.count(v3.itemsPerSecond) + " identities/s", met: v3.itemsPerSecond >= mapV3IdentitiesPerSecond
            ))
        }
        if let v3, let v2, v3.itemsPerSecond > 0 {
            let share = v2.itemsPerSecond / v3.itemsPerSecond
            targets.append(Target(
                name: "identity/map v2 throughput", goal: "≥ \(Format.ratio(mapV2ShareOfV3)) v3",
                measured: "\(Format.count(v2.itemsPerSecond)) identities/s (\(Format.ratio(share)))", met: share >= mapV2ShareOfV3
            ))
        }
        return targets
    }
}
