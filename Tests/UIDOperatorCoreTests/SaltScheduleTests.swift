import Testing
import UIDOperatorCore
import UIDProtocol

@Suite struct SaltScheduleTests {
    static let day = SaltSchedule.dayMillis
    /// A UTC midnight.
    static let today: Int64 = 20_000 * day

    /// A deterministic generator, so a failing plan can be replayed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func refreshFromIsTheNextThirtyDayMarkAfterTheLastRotationDay() {
        let rotated = Self.today - 10 * Self.day + 5_000  // ten days ago, during the day
        #expect(SaltSchedule.nextRefreshFrom(lastUpdatedMillis: rotated, afterDay: Self.today) == Self.today + 20 * Self.day)
        // On the mark itself the bucket is due; left alone, it moves one cycle on.
        #expect(SaltSchedule.nextRefreshFrom(lastUpdatedMillis: rotated, afterDay: Self.today + 20 * Self.day) == Self.today + 50 * Self.day)
        #expect(SaltSchedule.nextRefreshFrom(lastUpdatedMillis: Self.today + 3, afterDay: Self.today) == Self.today + 30 * Self.day)
        // Extreme stored values do not trap.
        #expect(SaltSchedule.nextRefreshFrom(lastUpdatedMillis: .max, afterDay: Self.today) > Self.today)
        #expect(SaltSchedule.nextRefreshFrom(lastUpdatedMillis: .min, afterDay: .max) > 0)
    }

    @Test func mappingRefreshFromIsAlwaysAfterNow() {
        let entry = SaltTable.Entry(id: 1, lastUpdatedMillis: Self.today - 30 * Self.day, refreshFromMillis: Self.today, currentSalt: [1])
        #expect(SaltSchedule.mappingRefreshFrom(entry, nowMillis: Self.today - 1) == Self.today, "its own while ahead")
        // Passed and not yet moved by the day's run: the next midnight, as the reference operator answers.
        #expect(SaltSchedule.mappingRefreshFrom(entry, nowMillis: Self.today) == Self.today + Self.day)
        #expect(SaltSchedule.mappingRefreshFrom(entry, nowMillis: Self.today + 45 * Self.day + 7) == Self.today + 46 * Self.day)
        var behind: [Int64] = []
        for third in -9..<1_200 {
            let now = Self.today + Int64(third) * (Self.day / 3)
            if SaltSchedule.mappingRefreshFrom(entry, nowMillis: now) <= now { behind.append(now) }
        }
        #expect(behind.isEmpty)
    }

    @Test func seedingSpreadsDueDatesEvenlyOverThirtyDays() {
        let now = Self.today + 7_200_000
        let times = (0..<3_000).map { SaltSchedule.seededTimes(position: $0, nowMillis: now) }
        #expect(times.allSatisfy { $0.refreshFromMillis > now && $0.lastUpdatedMillis <= now })
        let perDay = Dictionary(grouping: times, by: { $0.refreshFromMillis }).mapValues(\.count)
        #expect(perDay.count == 30, "one due date per day of the cycle")
        #expect(perDay.values.allSatisfy { $0 == 100 })
        #expect(perDay.keys.min() == Self.today + Self.day && perDay.keys.max() == Self.today + 30 * Self.day)
        // Consistent with the rule itself: the next mark after the last rotation's day.
        #expect(times.allSatisfy { $0.refreshFromMillis == SaltSchedule.nextRefreshFrom(lastUpdatedMillis: $0.lastUpdatedMillis, afterDay: Self.today) })
    }

    @Test func bucketsPerRunRoundsUpLikeTheReference() {
        #expect(SaltSchedule.bucketsPerRun(total: 1 << 20, fraction: 1.0 / 365) == 2_873)
        #expect(SaltSchedule.bucketsPerRun(total: 5, fraction: 1.0 / 365) == 1)
        #expect(SaltSchedule.bucketsPerRun(total: 0, fraction: 0.5) == 0)
        #expect(SaltSchedule.bucketsPerRun(total: 10, fraction: 1) == 10)
    }

    func bucket(_ position: Int, ageDays: Int64, dueInDays: Int64 = 0, hasSalt: Bool = true) -> SaltSchedule.Bucket {
        SaltSchedule.Bucket(position: position, lastUpdatedMillis: Self.today - ageDays * Self.day + 1_000,
                            refreshFromMillis: Self.today + dueInDays * Self.day, hasSalt: hasSalt)
    }

    @Test func aRunRotatesTheOldestDueBucketsAndReschedulesTheRest() {
        var generator = SplitMix(state: 1)
        let now = Self.today + 60_000
        // Due today: 20 buckets 30 days old, 5 that are 90, 2 that are 200; one young key-material bucket; one too young.
        var candidates = (0..<20).map { bucket($0, ageDays: 30) }
        candidates += (20..<25).map { bucket($0, ageDays: 90) }
        candidates += [bucket(25, ageDays: 200), bucket(26, ageDays: 200), bucket(27, ageDays: 60, hasSalt: false), bucket(28, ageDays: 10)]
        let schedule = SaltSchedule(fractionPerDay: 0.01, minimumAgeDays: 30)
        let plan = schedule.plan(candidates: candidates, totalBuckets: 1_000, nowMillis: now, using: &generator)

        #expect(plan.rotations.count == 10, "⌈1000 × 1 %⌉")
        let rotated = Set(plan.rotations.map(\.position))
        #expect(rotated.isSuperset(of: [25, 26]), "the oldest window first")
        #expect(rotated.intersection(20..<25).count == 5, "then the next, within its 80 % cap")
        #expect(rotated.intersection(0..<20).count == 3, "the rest from the youngest eligible window")
        #expect(!rotated.contains(27) && !rotated.contains(28), "no key-material or too-young bucket")
        #expect(Set(plan.rotations.map(\.salt)).count == 10 && plan.rotations.allSatisfy { $0.salt.count == 44 })
        #expect(plan.rotatedAtMillis == now && plan.rotatedRefreshFromMillis == Self.today + 30 * Self.day)

        let rescheduled = Dictionary(uniqueKeysWithValues: plan.reschedules.map { ($0.position, $0.refreshFromMillis) })
        #expect(Set(rescheduled.keys) == Set(0..<29).subtracting(rotated))
        #expect(rescheduled.values.allSatisfy { $0 > now })
        #expect(rescheduled[27] == Self.today + 30 * Self.day && rescheduled[28] == Self.today + 20 * Self.day)
        #expect(plan.previousSaltsUpdatedBeforeMillis == Self.today - 89 * Self.day, "previous salts kept while under 90 days old")
    }

    @Test func oneWindowGivesAtMostEightyPercentButAtLeastOne() {
        var generator = SplitMix(state: 2)
        let candidates = (0..<100).map { bucket($0, ageDays: 30) }
        let schedule = SaltSchedule(fractionPerDay: 0.01, minimumAgeDays: 30)
        #expect(schedule.plan(candidates: candidates, totalBuckets: 1_000, nowMillis: Self.today, using: &generator).rotations.count == 8)
        #expect(schedule.plan(candidates: candidates, totalBuckets: 10, nowMillis: Self.today, using: &generator).rotations.count == 1)
    }

    @Test func bucketsNotYetDueAreNeitherRotatedByDefaultNorRescheduled() {
        var generator = SplitMix(state: 3)
        // A forced run (the command's --include-not-due) passes every bucket.
        let candidates = (0..<10).map { bucket($0, ageDays: 40, dueInDays: 5) }
        let plan = SaltSchedule(fractionPerDay: 0.5, minimumAgeDays: 30).plan(candidates: candidates, totalBuckets: 10, nowMillis: Self.today, using: &generator)
        #expect(plan.rotations.count == 4, "one window: 80 % of 5")
        #expect(plan.reschedules.isEmpty)
        // Forced, the operator gets exactly what was asked, young buckets included, oldest first.
        let mixed = (0..<10).map { bucket($0, ageDays: Int64($0), dueInDays: 5) }
        let forced = SaltSchedule(fractionPerDay: 0.5, minimumAgeDays: 30).plan(candidates: mixed, totalBuckets: 10, nowMillis: Self.today, forced: true, using: &generator)
        #expect(forced.rotations.count == 5)
        let all = SaltSchedule().plan(candidates: mixed, totalBuckets: 10, nowMillis: Self.today, fraction: 1, forced: true, using: &generator)
        #expect(all.rotations.map(\.position) == Array(0..<10))
    }
}
