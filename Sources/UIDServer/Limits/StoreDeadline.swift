import Dispatch
import Synchronization

/// A bound on how long the operator waits for its store. A PostgreSQL server that went away
/// leaves queries waiting for the pool to reconnect (up to a minute), and a SQLite database that
/// another process holds locked leaves a write waiting in SQLite's busy handler; past the deadline
/// the operation counts as failed, so health reports it and a logout is refused as retryable.
public enum StoreDeadline {
    public static let defaultDuration: Duration = .seconds(3)

    public struct Exceeded: Error, CustomStringConvertible {
        public let duration: Duration
        public var description: String { "the store did not answer within \(duration)" }
    }

    /// `operation`'s result, or `Exceeded` once `duration` has passed. The caller gets its answer
    /// at the deadline even when the operation cannot be interrupted (a thread blocked in a driver):
    /// the operation is cancelled and left to finish on its own.
    public static func run<T: Sendable>(
        within duration: Duration = defaultDuration, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let outcome = Outcome<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                outcome.start(continuation)
                let work = Task {
                    do { outcome.finish(.success(try await operation())) } catch { outcome.finish(.failure(error)) }
                }
                // A Dispatch timer, not `Task.sleep`: the sleeping task would need a cooperative
                // thread to wake on, and when busy requests or a blocked driver hold all of them,
                // the deadline would pass unnoticed for as long as they do. Firing after an answer
                // is harmless (the first result wins), so the timer is not cancelled.
                DispatchQueue.global().asyncAfter(deadline: .now() + duration.dispatchInterval) {
                    outcome.finish(.failure(Exceeded(duration: duration)))
                }
                outcome.onFinish { work.cancel() }
            }
        } onCancel: {
            outcome.finish(.failure(CancellationError()))
        }
    }

    /// The first of the operation, the timer and the caller's cancellation to finish wins; the
    /// others find the continuation already resumed.
    private final class Outcome<T: Sendable>: Sendable {
        private struct State {
            var continuation: CheckedContinuation<T, any Error>?
            var early: Result<T, any Error>?
            var cleanup: (@Sendable () -> Void)?
            var done = false
        }
        private let state = Mutex(State())

        func start(_ continuation: CheckedContinuation<T, any Error>) {
            let early: Result<T, any Error>? = state.withLock { state in
                if let early = state.early { return early }
                state.continuation = continuation
                return nil
            }
            if let early { continuation.resume(with: early) }
        }

        func onFinish(_ cleanup: @escaping @Sendable () -> Void) {
            let runNow = state.withLock { state in
                if state.done { return true }
                state.cleanup = cleanup
                return false
            }
            if runNow { cleanup() }
        }

        func finish(_ result: Result<T, any Error>) {
            let (continuation, cleanup): (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) = state.withLock { state in
                guard !state.done else { return (nil, nil) }
                state.done = true
                if state.continuation == nil { state.early = result }
                defer { state.continuation = nil; state.cleanup = nil }
                return (state.continuation, state.cleanup)
            }
            continuation?.resume(with: result)
            cleanup?()
        }
    }
}

extension Duration {
    /// Nanosecond precision, clamped so an absurd configured deadline cannot overflow the conversion.
    fileprivate var dispatchInterval: DispatchTimeInterval {
        let (seconds, attoseconds) = components
        let limit: Int64 = 365 * 24 * 3600
        guard seconds < limit else { return .seconds(Int(limit)) }
        guard seconds >= 0, attoseconds >= 0 else { return .nanoseconds(0) }
        return .nanoseconds(Int(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
    }
}
