/// The operator's performance targets, checked against one run's numbers. They are reported, never asserted:
/// a timing on a shared machine is an observation, not a test.
struct Target {
    let name: String
    let goal: String
    let measured: String
    let met: Bool

    static func evaluate(http: [HTTPBenchmark.Result], startup: ScaleBenchmark.StartupResult?, lookups: [ScaleBenchmark.LookupResult]) -> [Target] {
        var targets: [Target] = []
        for name in ["token/generate", "token/refresh"] {
            guard let result = http.first(where: { $0.scenario.name == name }), let baseline = result.baseline else { continue }
            let ratio = result.summary.requestsPerSecond / baseline.requestsPerSecond
            targets.append(Target(name: "\(name) throughput", goal: "≥ 0.6 × echo", measured: Format.ratio(ratio), met: ratio >= 0.6))
            let p99 = result.summary.p99Micros / baseline.p99Micros
            targets.append(Target(name: "\(name) p99 latency", goal: "≤ 2 × echo", measured: Format.ratio(p99), met: p99 <= 2))
        }
        targets += batch(http: http)
        if let startup {
            let label = "\(Format.count(Double(startup.buckets))) buckets + \(Format.count(Double(startup.optOuts))) opt-outs"
            targets.append(Target(name: "start-up, \(label)", goal: "≤ 10 s", measured: Format.seconds(startup.startupTime), met: startup.startupTime <= .seconds(10)))
            targets.append(Target(
                name: "peak resident memory, \(label)", goal: "≤ 2 GiB", measured: Format.bytes(startup.peakResidentBytes),
                met: startup.peakResidentBytes <= 2 << 30
            ))
        }
        // "Flat": a hash probe costs the same however many entries there are. Only memory latency
        // grows, once the table no longer fits in cache; the 1M → 10M step shows that part alone.
        let sorted = lookups.sorted { $0.entries < $1.entries }
        if let small = sorted.first, let large = sorted.last, small.entries != large.entries {
            let growth = large.hit.nanosecondsPerCall / small.hit.nanosecondsPerCall
            targets.append(Target(
                name: "opt-out lookup (hit), \(Format.count(Double(small.entries))) → \(Format.count(Double(large.entries))) entries",
                goal: "flat (≤ 2×)", measured: Format.ratio(growth), met: growth <= 2
            ))
            if let million = sorted.first(where: { $0.entries >= 1_000_000 }), million.entries != large.entries {
                let outOfCache = large.hit.nanosecondsPerCall / million.hit.nanosecondsPerCall
                targets.append(Target(
                    name: "opt-out lookup (hit), \(Format.count(Double(million.entries))) → \(Format.count(Double(large.entries))) entries",
                    goal: "flat (≤ 2×)", measured: Format.ratio(outOfCache), met: outOfCache <= 2
                ))
            }
        }
        return targets
    }
}
