/// Times a closure the way a micro-benchmark should: calibrate a batch size that runs for a
/// measurable while, then take the median of several batches so one descheduling does not count.
enum Stopwatch {
    struct Result {
        let name: String
        /// What one call processes (an identity-map call processes 5,000 identities).
        let itemsPerCall: Int
        let itemName: String
        let nanosecondsPerCall: Double

        var itemsPerSecond: Double { Double(itemsPerCall) * 1e9 / nanosecondsPerCall }
        var nanosecondsPerItem: Double { nanosecondsPerCall / Double(max(itemsPerCall, 1)) }
    }

    static func measure(
        _ name: String, itemsPerCall: Int = 1, itemName: String = "calls", budget: Duration, samples: Int = 5, _ body: () -> Void
    ) -> Result {
        let clock = ContinuousClock()
        let perSample = budget / samples
        var iterations = 1
        while iterations < 1 << 30 {
            let elapsed = clock.measure { for _ in 0..<iterations { body() } }
            if elapsed * 4 >= perSample { break }
            iterations *= 2
        }
        var perCall: [Double] = []
        for _ in 0..<samples {
            let elapsed = clock.measure { for _ in 0..<iterations { body() } }
            perCall.append(elapsed.seconds * 1e9 / Double(iterations))
        }
        perCall.sort()
        return Result(name: name, itemsPerCall: itemsPerCall, itemName: itemName, nanosecondsPerCall: perCall[perCall.count / 2])
    }
}

/// Keeps the optimiser from deleting work whose result nobody reads.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
