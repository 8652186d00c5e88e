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
