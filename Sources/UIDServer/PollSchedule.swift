import Synchronization

/// When a node polls the store, spread so that a fleet does not poll or reload in step: nodes
/// started together (a deployment, a restart after an outage) begin at a random phase of the
/// interval, every interval is stretched or shrunk by a random `jitter` fraction, and a change
/// that needs a reload waits a random part of `reloadSpreadMillis` first (opt-outs keep flowing
/// meanwhile). The random source is injected so tests can fix it.
public struct PollSchedule: Sendable {
    public var intervalMillis: Int64
    /// Each interval is `intervalMillis × (1 ± jitter)`, uniformly; 0.1 by default.
    public var jitter: Double
    /// A reload starts up to this long after the change is noticed (0: at once).
    public var reloadSpreadMillis: Int64
    /// Uniform in [0, 1).
    let unitRandom: @Sendable () -> Double

    public init(
        intervalMillis: Int64, jitter: Double = 0.1, reloadSpreadMillis: Int64 = 0,
        unitRandom: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.intervalMillis = max(intervalMillis, 1)
        self.jitter = min(max(jitter, 0), 1)
        self.reloadSpreadMillis = max(reloadSpreadMillis, 0)
        self.unitRandom = unitRandom
    }

    /// The wait before the first poll: a random phase of one interval.
    public func initialDelayMillis() -> Int64 {
        scaled(intervalMillis, by: draw())
    }

    /// The wait between two polls.
    public func nextDelayMillis() -> Int64 {
        max(scaled(intervalMillis, by: 1 + jitter * (2 * draw() - 1)), 1)
    }

    /// How long after noticing a change its reload may start.
    public func reloadDelayMillis() -> Int64 {
        reloadSpreadMillis == 0 ? 0 : scaled(reloadSpreadMillis, by: draw())
    }

    /// A draw from the injected source, clamped into [0, 1) whatever it returns.
    private func draw() -> Double {
        let value = unitRandom()
        return value.isFinite ? min(max(value, 0), 1.0.nextDown) : 0
    }

    private func scaled(_ millis: Int64, by factor: Double) -> Int64 {
        // `factor` is in [0, 2) and `millis` a configured interval: the product fits.
        Int64(exactly: (Double(millis) * factor).rounded(.down)) ?? millis
    }
}

extension PollSchedule {
    /// A reproducible source for tests and simulations: a SplitMix64 sequence from `seed`.
    public static func seededRandom(_ seed: UInt64) -> @Sendable () -> Double {
        let state = Mutex(seed)
        return {
            let next = state.withLock { value -> UInt64 in
                value &+= 0x9E37_79B9_7F4A_7C15
                var mixed = value
                mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
                mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
                return mixed ^ (mixed >> 31)
            }
            return Double(next >> 11) / Double(UInt64(1) << 53)
        }
    }
}
