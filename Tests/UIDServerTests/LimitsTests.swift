import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDServer

/// The pure parts of the operator's limits (the behaviour over sockets is in the conformance
/// suite's test_abuse.py).
@Suite struct LimitsTests {
    #if os(Linux)
    /// Every pool thread runs batch work at idle priority (SCHED_IDLE, or nice 19 where refused);
    /// background work (snapshot rebuilds) does not.
    @Test func batchThreadsRunAtIdlePriorityAndBackgroundWorkDoesNot() async throws {
        @Sendable func priority() -> (policy: Int32, nice: Int32) {
            (sched_getscheduler(0), getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
        }
        let pool = BatchWorkPool(threads: 2, maxPending: 16)
        var seen = Set<UInt>()
        // More tasks than threads, running at once, so both threads take some.
        try await withThrowingTaskGroup(of: (policy: Int32, nice: Int32, thread: UInt)?.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await pool.run { () -> (policy: Int32, nice: Int32, thread: UInt) in
                        usleep(20_000)
                        let current = priority()
                        return (current.policy, current.nice, UInt(pthread_self()))
                    }
                }
            }
            for try await result in group {
                let result = try #require(result)
                #expect(result.policy == 5 || result.nice == 19, "SCHED_IDLE (5) or nice 19")
                seen.insert(result.thread)
            }
        }
        #expect(seen.count == 2)
        let background = try await pool.runBackground { priority() }
        #expect(background.policy != 5 && background.nice != 19)
    }
    #endif

    @Test func batchThreadCountIsOnePerCoreUnlessTheEnvironmentAsksForAnotherWithinBounds() {
        #expect(BatchWorkPool.threadCount(environment: [:], cores: 2) == 2)
        #expect(BatchWorkPool.threadCount(environment: [:], cores: 0) == 1)
        #expect(BatchWorkPool.threadCount(environment: ["UID_BATCH_THREADS": "1"], cores: 2) == 1)
        #expect(BatchWorkPool.threadCount(environment: ["UID_BATCH_THREADS": "8"], cores: 2) == 8)
        for refused in ["0", "9", "-1", "two", ""] {
            #expect(BatchWorkPool.threadCount(environment: ["UID_BATCH_THREADS": refused], cores: 2) == 2)
        }
    }

    @Test func batchTickerPeriodIs250MicrosecondsUnlessTheEnvironmentAsksForOffOrAnotherWithinBounds() {
        #expect(BatchPreemptionTicker.period(environment: [:]) == 250)
        #expect(BatchPreemptionTicker.period(environment: ["UID_BATCH_TICK_US": "0"]) == 0)
        #expect(BatchPreemptionTicker.period(environment: ["UID_BATCH_TICK_US": "1000"]) == 1_000)
        for refused in ["10", "20000", "-5", "fast"] {
            #expect(BatchPreemptionTicker.period(environment: ["UID_BATCH_TICK_US": refused]) == 250)
        }
    }

    #if os(Linux)
    @Test func everyAllowedCoreIsListedForATickerThread() {
        #expect(CoreAffinity.allowedCores().count == ProcessInfo.processInfo.activeProcessorCount)
    }
    #endif

    @Test func connectionCapLeavesRoomUnderTheDescriptorLimit() {
        #expect(DescriptorLimit.connectionCap(requested: 10_000, softLimit: 512) == 416)
        #expect(DescriptorLimit.connectionCap(requested: 100, softLimit: 512) == 100)
        #expect(DescriptorLimit.connectionCap(requested: 100, softLimit: nil) == 100)
        #expect(DescriptorLimit.connectionCap(requested: 100, softLimit: 50) == 1)
    }

    @Test func rateLimitRefusesPastOneSecondsWorthThenRefills() throws {
        let harness = try ServerTests.Harness()
        let client = try #require(harness.snapshot.clients.clients.first)
        var config = harness.snapshot.config
        config.clientRequestsPerSecond = 2
        let limiter = ClientRateLimiter()
        let start = ServerTests.now
        #expect(limiter.refusal(for: client, config: config, nowMillis: start) == nil)
        #expect(limiter.refusal(for: client, config: config, nowMillis: start) == nil)
        let refused = try #require(limiter.refusal(for: client, config: config, nowMillis: start))
        #expect(refused.status == .tooManyRequests)
        #expect(refused.headers[.retryAfter] == "1")
        #expect(limiter.refusal(for: client, config: config, nowMillis: start + 600) == nil)
        config.clientRequestsPerSecond = nil
        for _ in 0..<10 { #expect(limiter.refusal(for: client, config: config, nowMillis: start + 600) == nil) }
    }

    @Test func rateLimitSettingIsValidatedAndZeroRemovesIt() throws {
        var settings = RuntimeSettings()
        settings.clientRequestsPerSecond = 50
        #expect(try settings.applied(to: OperatorConfig()).clientRequestsPerSecond == 50)
        settings.clientRequestsPerSecond = 0
        #expect(try settings.applied(to: OperatorConfig()).clientRequestsPerSecond == nil)
        settings.clientRequestsPerSecond = -1
        #expect(throws: RuntimeSettings.Invalid.self) { try settings.applied(to: OperatorConfig()) }
        let decoded = try JSONDecoder().decode(RuntimeSettings.self, from: Data(#"{"client_requests_per_second":7}"#.utf8))
        #expect(decoded.clientRequestsPerSecond == 7)
    }

    /// The cached answer is the same list the snapshot computes bucket by bucket, for any
    /// `since_timestamp`, before and after the salts change.
    @Test func bucketAnswersMatchTheSnapshotsList() throws {
        let harness = try ServerTests.Harness()
        let answers = BucketAnswers(cacheThreshold: 2)
        func listed(_ snapshot: OperatorSnapshot, since: Int64) throws -> [[String: String]] {
            let json = try JSONSerialization.jsonObject(with: Data(answers.responseJSON(for: snapshot, sinceMillis: since)))
            let object = try #require(json as? [String: Any])
            #expect(object["status"] as? String == "success")
            return try #require(object["body"] as? [[String: String]])
        }
        func expected(_ snapshot: OperatorSnapshot, since: Int64) -> [[String: String]] {
            snapshot.bucketsUpdated(sinceMillis: since).map {
                ["bucket_id": $0.bucketID, "last_updated": UTCDateTime.format(millis: $0.lastUpdatedMillis)]
            }
        }
        let snapshot = harness.snapshot
        #expect(snapshot.salts.count > 0)
        let uncached = BucketAnswers()
        #expect(uncached.responseJSON(for: snapshot, sinceMillis: 0) == answers.responseJSON(for: snapshot, sinceMillis: 0))
        for since in [Int64.min, 0, ServerTests.now, Int64.max] {
            #expect(try listed(snapshot, since: since) == expected(snapshot, since: since))
        }
        // A salt run moves a bucket's time: the cache notices.
        var salts = snapshot.salts
        var entry = salts[0]
        entry.lastUpdatedMillis = ServerTests.now + 5_000
        let replaced = salts.replace(at: 0, with: entry)
        #expect(replaced)
        var (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: ServerTests.now, bucketCount: 7)
        contents.salts = salts
        let rotated = try OperatorSnapshot(config: snapshot.config, contents: contents)
        #expect(try listed(rotated, since: ServerTests.now + 1) == expected(rotated, since: ServerTests.now + 1))
        #expect(try listed(rotated, since: ServerTests.now + 1).count == 1)
    }
}
