import Synchronization
import UIDOperatorCore

/// The current snapshot. Requests take a reference under a brief lock and then work lock-free on
/// an immutable value; a reload swaps the reference.
public final class SnapshotHolder: Sendable {
    private let state: Mutex<OperatorSnapshot>

    public init(_ snapshot: OperatorSnapshot) {
        state = Mutex(snapshot)
    }

    public var current: OperatorSnapshot { state.withLock { $0 } }

    public func replace(with snapshot: OperatorSnapshot) {
        state.withLock { $0 = snapshot }
    }

    /// Derives the next snapshot from the current one atomically, so concurrent updates (two
    /// opt-outs at once) cannot lose each other.
    public func update(_ transform: (OperatorSnapshot) -> OperatorSnapshot) {
        state.withLock { $0 = transform($0) }
    }
}

/// Wall-clock milliseconds, injectable so tests can move time.
public struct OperatorClock: Sendable {
    public let nowMillis: @Sendable () -> Int64

    public init(nowMillis: @escaping @Sendable () -> Int64) {
        self.nowMillis = nowMillis
    }

    public static let system = OperatorClock {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
