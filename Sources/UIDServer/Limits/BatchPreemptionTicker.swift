#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Synchronization

/// While batch work is pending, wakes every core every `period`, so an event loop never waits
/// long behind a batch thread.
///
/// Why: a `SCHED_IDLE` thread gives way at once to a thread that *wakes* on its core, but Linux's
/// scheduler (EEVDF) may also *pick* it over an event loop that is already runnable and has used
/// more than its share lately. The event loop then waits for the next reschedule on that core:
/// on a kernel without preemption and with a 250 Hz tick, up to 4 ms (seen with `perf sched` beside
/// identity-map load). A normal thread waking on the core forces that reschedule, so one sleeping
/// thread per core with a short timer bounds the wait to about `period`. It costs a wake-up per
/// core per period, and only while batch work is pending.
final class BatchPreemptionTicker: Sendable {
    /// One per process: its threads are never torn down.
    static let shared = BatchPreemptionTicker(periodMicroseconds: period(environment: ProcessInfo.processInfo.environment))

    /// Microseconds between wake-ups; 0 turns the ticker off.
    let periodMicroseconds: Int
    private let pending: Atomic<Int>
    private let wake = DispatchSemaphore(value: 0)
    private let cores: [Int]

    /// `UID_BATCH_TICK_US` when it is 0 (off) or 50…10,000 µs (for measuring), else 250 µs.
    static func period(environment: [String: String]) -> Int {
        if let text = environment["UID_BATCH_TICK_US"], let requested = Int(text), requested == 0 || (50...10_000).contains(requested) {
            return requested
        }
        return 250
    }

    init(periodMicroseconds: Int) {
        self.periodMicroseconds = periodMicroseconds
        pending = Atomic(0)
        cores = periodMicroseconds > 0 ? CoreAffinity.allowedCores() : []
        for core in cores {
            Thread { [self] in
                // Named from inside: a name set before start does not reach the system thread.
                Thread.current.name = "batch-tick-\(core)"
                run(pinnedTo: core)
            }.start()
        }
    }

    /// Batch work was admitted: tick until it is done.
    func workStarted() {
        guard !cores.isEmpty else { return }
        if pending.add(1, ordering: .relaxed).oldValue == 0 {
            for _ in cores { wake.signal() }
        }
    }

    func workEnded() {
        guard !cores.isEmpty else { return }
        pending.subtract(1, ordering: .relaxed)
    }

    private func run(pinnedTo core: Int) {
        CoreAffinity.pinCurrentThread(to: core)
        #if os(Linux)
        let nanoseconds = periodMicroseconds * 1_000
        var interval = timespec(tv_sec: nanoseconds / 1_000_000_000, tv_nsec: nanoseconds % 1_000_000_000)
        while true {
            if pending.load(ordering: .relaxed) > 0 {
                _ = clock_nanosleep(CLOCK_MONOTONIC, 0, &interval, nil)
            } else {
                wake.wait()
            }
        }
        #endif
    }
}

/// The cores this process may run on, and pinning a thread to one (Linux; elsewhere no cores, so
/// no ticker).
enum CoreAffinity {
    /// At most this many cores get a ticker thread.
    static let maxCores = 256

    static func allowedCores() -> [Int] {
        #if os(Linux)
        var set = cpu_set_t()
        guard let getAffinity = affinityCall("sched_getaffinity"), getAffinity(0, MemoryLayout<cpu_set_t>.size, &set) == 0 else {
            return []
        }
        let bytes = withUnsafeBytes(of: set) { Array($0) }
        var cores = [Int]()
        for (index, byte) in bytes.enumerated() {
            for bit in 0..<8 where byte & (1 << bit) != 0 && cores.count < maxCores {
                cores.append(index * 8 + bit)
            }
        }
        return cores
        #else
        return []
        #endif
    }

    /// Best effort: a refused pin leaves the thread free to run anywhere.
    static func pinCurrentThread(to core: Int) {
        #if os(Linux)
        var set = cpu_set_t()
        withUnsafeMutableBytes(of: &set) { bytes in
            let index = core / 8
            if index >= 0, index < bytes.count { bytes[index] = 1 << UInt8(core % 8) }
        }
        _ = affinityCall("sched_setaffinity")?(0, MemoryLayout<cpu_set_t>.size, &set)
        #endif
    }

    #if os(Linux)
    private typealias AffinityCall = @convention(c) (pid_t, Int, UnsafeMutableRawPointer?) -> Int32

    /// glibc's `sched_getaffinity` / `sched_setaffinity`, looked up at run time: Swift's Glibc
    /// module leaves them out (they need `_GNU_SOURCE`).
    private static func affinityCall(_ name: String) -> AffinityCall? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(symbol, to: AffinityCall.self)
    }
    #endif
}
