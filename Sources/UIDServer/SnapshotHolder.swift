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
