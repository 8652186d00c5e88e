/// A bound on how long the operator waits for its store. A PostgreSQL server that went away
/// leaves queries waiting for the pool to reconnect (up to a minute); past the deadline the
/// operation counts as failed, so health reports it and a logout is refused as retryable.
public enum StoreDeadline {
    public static let defaultDuration: Duration = .seconds(3)

    public struct Exceeded: Error, CustomStringConvertible {
        public let duration: Duration
        public var description: String { "the store did not answer within \(duration)" }
    }

    /// `operation`'s result, or `Exceeded` once `duration` has passed (the operation is then cancelled).
    public static func run<T: Sendable>(
        within duration: Duration = defaultDuration, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: duration)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else { throw Exceeded(duration: duration) }
            return result
        }
    }
}
