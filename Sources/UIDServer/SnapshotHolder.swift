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
    /// opt-outs at once) cannot lose each other. `transform` runs outside the lock (folding the
    /// opt-out overlay into the main index copies it), so readers never wait for it; an update
    /// that lost a race is derived again from the winner.
    public func update(_ transform: (OperatorSnapshot) -> OperatorSnapshot) {
        while true {
            let base = current
            let next = transform(base)
            let swapped = state.withLock { snapshot in
                guard snapshot === base else { return false }
                snapshot = next
                return true
            }
            if swapped { return }
        }
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
