/// The operator's performance targets, checked against one run's numbers. They are reported, never asserted:
/// a timing on a shared machine is an observation, not a test.
struct Target {
    let name: String
    let goal: String
    let measured: String
    let met: Bool

    static func evaluate(
        http: [HTTPBenchmark.Result], startup: ScaleBenchmark.StartupResult?, lookups: [ScaleBenchmark.LookupResult],
        saltRotation: SaltRotationBenchmark.Result? = nil,
        observability: [ObservabilityCost.Result] = []
    ) -> [Target] {
        var targets = requestPath(http: http, observability: observability)
        targets += batch(http: http)
        if let startup {
            let label = "\(Format.count(Double(startup.buckets))) buckets + \(Format.count(Double(startup.optOuts))) opt-outs"
            // Held by the slowest start: a node's first, which reads every row.
            targets.append(Target(
                name: "start-up reading every row, \(label)", goal: "≤ 10 s", measured: Format.seconds(startup.fromRowsTime),
                met: startup.fromRowsTime <= .seconds(10) && startup.startupTime <= .seconds(10)
            ))
            targets.append(Target(
                name: "peak resident memory, \(label)", goal: "≤ 2 GiB", measured: Format.bytes(startup.peakResidentBytes),
                met: startup.peakResidentBytes <= 2 << 30
            ))
        }
        targets += optOuts(startup: startup, lookups: lookups, saltRotation: saltRotation)
        return targets
    }
}
