import UIDProtocol

/// One salt rotation run as the store executes it: which buckets are candidates, whether a run
/// already made today skips it, and how the candidates are planned. The scheduled daily run and
/// `salt rotate` are both made here, so their rules cannot drift apart.
public struct SaltRotationRun: Sendable {
    public let nowMillis: Int64
    /// Buckets whose `refresh_from` is before this are candidates.
    public let dueBeforeMillis: Int64
    /// The run does nothing if one was made at or after this (nil: it always runs).
    public let skipIfRunSinceMillis: Int64?
    let schedule: SaltSchedule
    let forced: Bool

    /// The plan for `candidates` out of `totalBuckets`, with fresh random salts.
    public func plan(candidates: [SaltSchedule.Bucket], totalBuckets: Int) -> SaltSchedule.Plan {
        var generator = SecureRandom.Generator()
        return schedule.plan(candidates: candidates, totalBuckets: totalBuckets, nowMillis: nowMillis, forced: forced, using: &generator)
    }
}

extension SaltSchedule {
    /// The scheduled run: the due buckets, once per UTC day (the first node to try makes it).
    public func dailyRun(nowMillis: Int64) -> SaltRotationRun {
        SaltRotationRun(
            nowMillis: nowMillis, dueBeforeMillis: Self.dueBeforeMillis(nowMillis: nowMillis),
            skipIfRunSinceMillis: Self.dayStart(nowMillis), schedule: self, forced: false
        )
    }

    /// An operator's run by hand (`salt rotate`), made whatever ran today and counted as the day's
    /// run. `includeNotDue`: every bucket is a candidate, whatever its age.
    public func manualRun(nowMillis: Int64, includeNotDue: Bool) -> SaltRotationRun {
        SaltRotationRun(
            nowMillis: nowMillis, dueBeforeMillis: includeNotDue ? Int64.max : Self.dueBeforeMillis(nowMillis: nowMillis),
            skipIfRunSinceMillis: nil, schedule: self, forced: includeNotDue
        )
    }
}
