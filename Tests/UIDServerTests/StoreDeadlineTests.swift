import Dispatch
import Synchronization
import Testing
@testable import UIDServer

@Suite struct StoreDeadlineTests {
    /// The deadline is generous: the operation needs a cooperative thread to run on, and while other
    /// suites hold them all it may start only after seconds.
    static let generous: Duration = .seconds(600)

    @Test func anAnswerInTimeIsReturned() async throws {
        let value = try await StoreDeadline.run(within: Self.generous) { 42 }
        #expect(value == 42)
    }

    @Test func anOperationsErrorIsPassedOn() async {
        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            try await StoreDeadline.run(within: Self.generous) { () async throws -> Int in throw Refused() }
        }
    }

    /// A SQLite write waiting in the busy handler does not notice cancellation: the caller must be
    /// answered at the deadline anyway, not when the driver gives up.
    @Test func theDeadlineAnswersWhileAnOperationIgnoresCancellation() async throws {
        let finished = Atomic<Bool>(false)
        let release = DispatchSemaphore(value: 0)
        // The "driver" is released once the caller has its answer, or after 60 s whatever happens,
        // so a deadline that waits for it fails the check below instead of hanging the test.
        // Other suites may hold every cooperative thread meanwhile: the answer can come late, but
        // it must come before the driver finishes.
        DispatchQueue.global().asyncAfter(deadline: .now() + 60) { release.signal() }
        defer { release.signal() }
        await #expect(throws: StoreDeadline.Exceeded.self) {
            try await StoreDeadline.run(within: .milliseconds(100)) { () async -> Int in
                await withCheckedContinuation { continuation in
                    DispatchQueue.global().async {
                        release.wait()
                        continuation.resume()
                    }
                }
                finished.store(true, ordering: .relaxed)
                return 1
            }
        }
        let finishedFirst = finished.load(ordering: .relaxed)
        #expect(!finishedFirst, "answered only after the operation finished")
    }

    @Test func theCallersCancellationEndsTheWait() async {
        let release = DispatchSemaphore(value: 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + 30) { release.signal() }
        let task = Task {
            try await StoreDeadline.run(within: .seconds(60)) { () async -> Int in
                await withCheckedContinuation { continuation in
                    DispatchQueue.global().async {
                        release.wait()
                        continuation.resume()
                    }
                }
                return 1
            }
        }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }
}
