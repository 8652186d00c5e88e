#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Hummingbird
import NIOCore
import NIOPosix
import Synchronization
import UIDOperatorCore

/// Where batch work runs (identity map, buckets, opt-out status): threads of their own, one per
/// core, at the lowest CPU priority (`BatchThreadPriority`), so a 5,000-identity request uses every
/// idle core yet never delays the threads that answer token requests for long (with the help of
/// `BatchPreemptionTicker`). How much may wait is bounded:
/// past the bound the request is shed at once (503 with `Retry-After`) rather than queued behind
/// work that would make it time out anyway.
public final class BatchWorkPool: Sendable {
    /// One pool per process (threads are never torn down; servers in tests share it).
    public static let shared = BatchWorkPool(
        threads: threadCount(environment: ProcessInfo.processInfo.environment, cores: System.coreCount),
        maxPending: max(4, System.coreCount * 4)
    )

    /// `UID_BATCH_THREADS` when it is a whole number from 1 to 4 × cores (for measuring), else one
    /// per core.
    static func threadCount(environment: [String: String], cores: Int) -> Int {
        let cores = max(1, cores)
        if let text = environment["UID_BATCH_THREADS"], let requested = Int(text), (1...4 * cores).contains(requested) {
            return requested
        }
        return cores
    }

    public let threads: Int
    /// Requests running or waiting at most.
    public let maxPending: Int
    private let pool: NIOThreadPool
    /// One thread at normal priority for `runBackground`: a snapshot rebuild must not starve while
    /// token requests keep every core busy, as the pool's idle-priority threads would.
    private let background: NIOThreadPool
    private let pending = Atomic<Int>(0)
    /// Keeps event loops from waiting long behind the pool's threads (see `BatchPreemptionTicker`).
    private let ticker: BatchPreemptionTicker
    private let shedCount = Atomic<Int>(0)

    init(threads: Int, maxPending: Int, ticker: BatchPreemptionTicker = .shared) {
        self.threads = threads
        self.maxPending = maxPending
        self.ticker = ticker
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        BatchThreadPriority.lowerEveryThread(of: pool, threads: threads)
        background = NIOThreadPool(numberOfThreads: 1)
        background.start()
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
        ticker.workStarted()
        defer { ticker.workEnded() }
        return try await pool.runIfActive(work)
    }

    /// Background work the operator must do (a snapshot rebuild): on its own thread at normal
    /// priority, one at a time, never shed.
    public func runBackground<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await background.runIfActive(work)
    }
}

/// The pool's threads run at the lowest priority: `SCHED_IDLE` on Linux (a thread of any other
/// policy preempts them as soon as it wakes), else nice 19. On Linux both are per-thread attributes,
/// and lowering one's own priority needs no privilege. Elsewhere the threads keep the default.
enum BatchThreadPriority {
    /// One task per thread: each lowers its own thread and then waits until every thread has taken
    /// one, so no thread takes two. Work submitted later queues behind these tasks.
    static func lowerEveryThread(of pool: NIOThreadPool, threads: Int) {
        let arrived = ArrivalCount()
        for _ in 0..<threads {
            pool.submit { _ in
                lowerCurrentThread()
                arrived.count.add(1, ordering: .relaxed)
                // Bounded: a thread that never arrives (it cannot happen: the pool has `threads`
                // idle threads) costs the others at most a second.
                for _ in 0..<1_000 where arrived.count.load(ordering: .relaxed) < threads { usleep(1_000) }
            }
        }
    }

    private final class ArrivalCount: Sendable {
        let count = Atomic<Int>(0)
    }

    static func lowerCurrentThread() {
        #if os(Linux)
        var parameters = sched_param()
        parameters.sched_priority = 0
        // 5 is SCHED_IDLE (the C macro needs _GNU_SOURCE, so Swift does not import it); 0 is this thread.
        if sched_setscheduler(0, 5, &parameters) != 0 { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19) }
        #endif
    }
}

extension APIResponse {
    /// Overloaded: a retryable refusal, answered before any work is done.
    static func overloaded(retryAfterSeconds: Int = 1) -> Response {
        failure(.busy(retryAfterSeconds: retryAfterSeconds))
    }
}

extension EncryptedEndpoint {
    /// `respond` with the rest run on the batch pool: the envelope opened, the handler, the answer
    /// sealed (for a 5,000-identity request the envelope alone costs more than a token request).
    /// When the pool is full, the request is shed with a 503 before its envelope is opened.
    func respondOnBatchPool(
        to request: Request, roles: [Role], pool: BatchWorkPool = .shared, handler: @escaping @Sendable (Call) throws -> Outcome
    ) async -> Response {
        let admitted: Admitted
        switch await admit(request, roles: roles) {
        case .refused(let response): return response
        case .admitted(let accepted): admitted = accepted
        }
        return await APIResponse.answering {
            // The pool's threads run outside this task: the request's observation goes along by hand.
            let observation = RequestObservation.current
            let work: @Sendable () throws -> Response = {
                try RequestObservation.$current.withValue(observation) {
                    let envelope = try admitted.openEnvelope()
                    return seal(try handler(admitted.call(envelope)), envelope: envelope, client: admitted.client)
                }
            }
            guard let response = try await pool.run(work) else { throw OperatorFailure.busy() }
            return response
        }
    }
}
