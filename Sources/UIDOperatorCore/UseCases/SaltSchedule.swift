import UIDProtocol

/// When salt buckets rotate, and what identity map v3 promises about it, following the reference's
/// admin service. The only place these rules live: seeding, the scheduled daily rotation, the
/// `salt rotate` command and identity map v3 all ask this type.
///
/// - A bucket falls due (`refresh_from`) on each 30-day mark after the UTC day of its last rotation.
/// - A run rotates ⌈buckets × fraction⌉ of the due buckets at least the minimum age old, oldest
///   first: age windows of 30 days, at most 80 % of a run (and at least one bucket) from any one
///   window, random within one.
/// - A due bucket left alone moves on to its next 30-day mark, so `refresh_from` is always after the
///   run's day; a rotated one falls due 30 days after the run's day.
/// - A rotated bucket keeps its old salt as the previous one until it is 90 days old.
public struct SaltSchedule: Sendable, Equatable {
    public static let dayMillis: Int64 = 86_400_000
    public static let cycleDays: Int64 = 30
    public static let previousSaltRetentionDays = SaltTable.Entry.previousRawUIDDays
    /// The reference's cap on how much of one run a single age window may take.
    static let maximumShareOfOneWindow = 0.8
    /// Times are clamped to year 0…9999 before arithmetic, so stored values cannot overflow it.
    static let latestMillis: Int64 = 253_402_300_799_999

    /// Fraction of all buckets one daily run rotates (the reference: about 1/365).
    public var fractionPerDay: Double
    /// Due buckets younger than this (whole days since their last rotation) are not rotated.
    public var minimumAgeDays: Int64

    public init(fractionPerDay: Double = 1.0 / 365, minimumAgeDays: Int64 = 30) {
        self.fractionPerDay = fractionPerDay
        self.minimumAgeDays = minimumAgeDays
    }

    // MARK: - Days

    /// Midnight UTC starting the day of `millis`.
    public static func dayStart(_ millis: Int64) -> Int64 {
        let clamped = min(max(millis, 0), latestMillis)
        return clamped - clamped % dayMillis
    }

    /// Whole days from the day of the last rotation to `dayStartMillis` (negative if later).
    static func ageDays(lastUpdatedMillis: Int64, atDay dayStartMillis: Int64) -> Int64 {
        (dayStart(dayStartMillis) - dayStart(lastUpdatedMillis)) / dayMillis
    }

    /// The first 30-day mark after the day of the last rotation that lies after `dayStartMillis`'s day.
    public static func nextRefreshFrom(lastUpdatedMillis: Int64, afterDay dayStartMillis: Int64) -> Int64 {
        let anchor = dayStart(lastUpdatedMillis)
        let age = ageDays(lastUpdatedMillis: lastUpdatedMillis, atDay: dayStartMillis)
        let cycles = age < 0 ? 1 : age / cycleDays + 1
        return anchor + cycles * cycleDays * dayMillis
    }

    /// Buckets whose `refresh_from` is before this are due in a run at `nowMillis` (missed days included).
    public static func dueBeforeMillis(nowMillis: Int64) -> Int64 {
        dayStart(nowMillis) + dayMillis
    }

    /// Identity map v3's `refresh_from`, as the reference operator answers it: the bucket's own while
    /// it is ahead of `nowMillis`, else the next UTC midnight (the day's run moves a passed one before
    /// then). Always after `nowMillis`.
    public static func mappingRefreshFrom(_ bucket: SaltTable.Entry, nowMillis: Int64) -> Int64 {
        mappingRefreshFrom(refreshFromMillis: bucket.refreshFromMillis, nowMillis: nowMillis)
    }

    /// As above, from the bucket's stored `refresh_from` alone.
    public static func mappingRefreshFrom(refreshFromMillis: Int64, nowMillis: Int64) -> Int64 {
        refreshFromMillis > nowMillis ? refreshFromMillis : dueBeforeMillis(nowMillis: nowMillis)
    }

    // MARK: - Seeding

    /// A new table's bucket at `position`: its last rotation is spread over the 30 days before
    /// `nowMillis`, as in a table that has been rotating all along, so that from tomorrow a 30th of
    /// the buckets falls due each day rather than all of them on one day.
    public static func seededTimes(position: Int, nowMillis: Int64) -> (lastUpdatedMillis: Int64, refreshFromMillis: Int64) {
        let lastUpdated = nowMillis - Int64(position % Int(cycleDays)) * dayMillis
        return (lastUpdated, nextRefreshFrom(lastUpdatedMillis: lastUpdated, afterDay: dayStart(nowMillis)))
    }

    /// A fresh salt: base64 of 32 random bytes, as the reference's.
    public static func newSalt(using generator: inout some RandomNumberGenerator) -> [UInt8] {
        var random = [UInt8](repeating: 0, count: 32)
        for word in 0..<4 {
            let value: UInt64 = generator.next()
            for byte in 0..<8 { random[word * 8 + byte] = UInt8(truncatingIfNeeded: value >> (byte * 8)) }
        }
        return Array(Base64.encode(random).utf8)
    }

    // MARK: - Rotation

    /// A bucket as a rotation run sees it.
    public struct Bucket: Sendable, Equatable {
        public var position: Int
        public var lastUpdatedMillis: Int64
        public var refreshFromMillis: Int64
        /// Only salt buckets get a new salt; v4 key-material buckets are only rescheduled.
        public var hasSalt: Bool

        public init(position: Int, lastUpdatedMillis: Int64, refreshFromMillis: Int64, hasSalt: Bool) {
            self.position = position
            self.lastUpdatedMillis = lastUpdatedMillis
            self.refreshFromMillis = refreshFromMillis
            self.hasSalt = hasSalt
        }
    }

    /// What one run writes.
    public struct Plan: Sendable, Equatable {
        public struct Rotation: Sendable, Equatable {
            public var position: Int
            public var salt: [UInt8]
        }

        public struct Reschedule: Sendable, Equatable {
            public var position: Int
            public var refreshFromMillis: Int64
        }

        /// Rotated buckets: the current salt becomes the previous one, and each gets `salt`,
        /// `last_updated = rotatedAtMillis` and `refresh_from = rotatedRefreshFromMillis`.
        public var rotations: [Rotation] = []
        public var rotatedAtMillis: Int64
        public var rotatedRefreshFromMillis: Int64
        /// Due buckets left alone, with their next `refresh_from`.
        public var reschedules: [Reschedule] = []
        /// Buckets last rotated before this lose their previous salt (and previous key).
        public var previousSaltsUpdatedBeforeMillis: Int64
    }

    /// Buckets one run rotates out of `totalBuckets` with `fraction` (the reference rounds up).
    public static func bucketsPerRun(total: Int, fraction: Double) -> Int {
        guard total > 0, fraction > 0 else { return 0 }
        let wanted = (Double(total) * min(fraction, 1)).rounded(.up)
        return min(total, Int(wanted))
    }

    /// Plans a run at `nowMillis` over `candidates` (the due buckets) for a table of `totalBuckets`.
    /// `forced` is an operator's explicit rotation of `candidates` due or not: still oldest first,
    /// but whatever their age and without the per-window cap, so that a fraction of 1 rotates all.
    public func plan(
        candidates: [Bucket], totalBuckets: Int, nowMillis: Int64, fraction: Double? = nil, forced: Bool = false,
        using generator: inout some RandomNumberGenerator
    ) -> Plan {
        let today = Self.dayStart(nowMillis)
        var plan = Plan(
            rotatedAtMillis: nowMillis, rotatedRefreshFromMillis: Self.nextRefreshFrom(lastUpdatedMillis: nowMillis, afterDay: today),
            previousSaltsUpdatedBeforeMillis: today - (Self.previousSaltRetentionDays - 1) * Self.dayMillis
        )
        let wanted = Self.bucketsPerRun(total: totalBuckets, fraction: fraction ?? fractionPerDay)
        // At least one, so that small tables rotate too (the reference's cap would round to zero).
        let perWindow = forced ? wanted : max(1, Int(Double(wanted) * Self.maximumShareOfOneWindow))
        // Oldest window first; window 0 holds ages [minimum, minimum + 30).
        var windows = [Int64: [Bucket]]()
        for bucket in candidates where bucket.hasSalt {
            let age = Self.ageDays(lastUpdatedMillis: bucket.lastUpdatedMillis, atDay: today)
            guard forced || age >= minimumAgeDays else { continue }
            let beyond = age - minimumAgeDays
            let window = beyond >= 0 ? beyond / Self.cycleDays : -((Self.cycleDays - 1 - beyond) / Self.cycleDays)
            windows[window, default: []].append(bucket)
        }
        var chosen = Set<Int>()
        for window in windows.keys.sorted(by: >) where chosen.count < wanted {
            var members = windows[window] ?? []
            let take = min(wanted - chosen.count, perWindow, members.count)
            members.shuffle(using: &generator)
            for bucket in members.prefix(take) {
                chosen.insert(bucket.position)
                plan.rotations.append(Plan.Rotation(position: bucket.position, salt: Self.newSalt(using: &generator)))
            }
        }
        let dueBefore = Self.dueBeforeMillis(nowMillis: nowMillis)
        for bucket in candidates where !chosen.contains(bucket.position) && bucket.refreshFromMillis < dueBefore {
            plan.reschedules.append(Plan.Reschedule(
                position: bucket.position, refreshFromMillis: Self.nextRefreshFrom(lastUpdatedMillis: bucket.lastUpdatedMillis, afterDay: today)
            ))
        }
        plan.rotations.sort { $0.position < $1.position }
        return plan
    }
}
