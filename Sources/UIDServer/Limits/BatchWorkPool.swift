import Hummingbird
import NIOCore
import NIOPosix
import Synchronization
import UIDOperatorCore

/// Where batch work runs (identity map, buckets, opt-out status): a few threads of their own, so
/// a 5,000-identity request never occupies the threads that answer token requests, with a bound
/// on how much may wait. Past the bound the request is shed at once (503 with `Retry-After`)
/// rather than queued behind work that would make it time out anyway.
public final class BatchWorkPool: Sendable {
    /// One pool per process (threads are never torn down; servers in tests share it).
    public static let shared = BatchWorkPool(
        threads: max(1, System.coreCount / 2), maxPending: max(4, System.coreCount * 4)
    )

    public let threads: Int
    /// Requests running or waiting at most.
    public let maxPending: Int
    private let pool: NIOThreadPool
    private let pending = Atomic<Int>(0)
    private let shedCount = Atomic<Int>(0)

    init(threads: Int, maxPending: Int) {
        self.threads = threads
        self.maxPending = maxPending
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
    }

    /// Requests turned away so far because the pool was full.
    public var shed: Int { shedCount.load(ordering: .relaxed) }

    /// `work`'s result, computed on the pool; nil when the pool is full (the caller sheds).
    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T? {
        let before = pending.add(1, ordering: .relaxed).oldValue
        defer { pending.subtract(1, ordering: .relaxed) }
        guard before < maxPending else {
            shedCount.add(1, ordering: .relaxed)
            return nil
        }
        return try await pool.runIfActive(work)
    }

    /// Background work the operator must do (a snapshot rebuild): waits its turn, never shed.
    public func runBackground<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(work)
    }
}

extension APIResponse {
    /// Overloaded: a retryable refusal, answered before any work is done.
    static func overloaded(retryAfterSeconds: Int = 1) -> Response {
        failure(.busy(retryAfterSeconds: retryAfterSeconds))
    }
}

extension EncryptedEndpoint {
    /// `respond` with the handler run on the batch pool; when the pool is full, the request is
    /// shed with a 503 before its payload is decoded.
    func respondOnBatchPool(
        to request: Request, roles: [Role], pool: BatchWorkPool = .shared, handler: @escaping @Sendable (Call) throws -> Outcome
    ) async -> Response {
        await respond(to: request, roles: roles) { call in
            // The pool's threads run outside this task: the request's observation goes along by hand.
            let observation = RequestObservation.current
            let work: @Sendable () throws -> Outcome = { try RequestObservation.$current.withValue(observation) { try handler(call) } }
            guard let outcome = try await pool.run(work) else { throw OperatorFailure.busy() }
            return outcome
        }
    }
}
