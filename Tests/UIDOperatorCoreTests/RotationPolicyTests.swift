import Testing
import UIDOperatorCore
import UIDProtocol

@Suite struct RotationPolicyTests {
    let policy = RotationPolicy(keyIntervalSeconds: 86_400, activationLeadSeconds: 3_600, graceSeconds: 600)

    func key(activates: Int64) -> KeysetKey {
        InitialDataset.newKey(id: 1, keysetID: 5, nowSeconds: activates)
    }

    @Test func rotatesOnlyWhenTheNewestKeyIsDue() throws {
        let keys = [key(activates: 1_000_000)]
        #expect(policy.dueRotation(keys: keys, nowSeconds: 1_000_000 + 86_400 - 3_601, tokenLifetimeSeconds: 7_200) == nil)
        let due = try #require(policy.dueRotation(keys: keys, nowSeconds: 1_000_000 + 86_400 - 3_600, tokenLifetimeSeconds: 7_200))
        #expect(due.activatesSeconds == 1_086_400, "activates one interval after the newest key, after the lead")
        #expect(due.expireOthersAtSeconds == 1_094_200, "old keys outlive every token they encrypted")
        #expect(due.expiresSeconds > due.activatesSeconds + 86_400)
    }

    @Test func aLongIdleKeysetRotatesWithTheLeadFromNow() throws {
        let due = try #require(policy.dueRotation(keys: [key(activates: 0)], nowSeconds: 10_000_000, tokenLifetimeSeconds: 60))
        #expect(due.activatesSeconds == 10_003_600)
        let first = try #require(policy.dueRotation(keys: [], nowSeconds: 5, tokenLifetimeSeconds: 60))
        #expect(first.activatesSeconds == 3_605)
    }

    /// Old keys must outlive the longest-lived token each keyset's keys encrypt.
    @Test func eachKeysetIsProtectedForItsLongestLivedToken() {
        var config = OperatorConfig()
        config.lifetimes = TokenLifetimes(identityTokenExpiresAfterSeconds: 100, refreshTokenExpiresAfterSeconds: 1_000, refreshIdentityTokenAfterSeconds: 10)
        config.sharingTokenExpirySeconds = 500
        #expect(RotationPolicy.tokenLifetimeSeconds(keysetID: Keyset.refreshKeysetID, config: config) == 1_000)
        #expect(RotationPolicy.tokenLifetimeSeconds(keysetID: Keyset.masterKeysetID, config: config) == 100)
        #expect(RotationPolicy.tokenLifetimeSeconds(keysetID: 7, config: config) == 500, "site keys also encrypt sharing tokens")
        config.maxBidstreamLifetimeSeconds = 300
        config.maxSharingLifetimeSeconds = 200
        #expect(RotationPolicy.tokenLifetimeSeconds(keysetID: Keyset.masterKeysetID, config: config) == 300)
        #expect(RotationPolicy.tokenLifetimeSeconds(keysetID: 7, config: config) == 300)
        let keys = [key(activates: 1_000_000)]
        #expect(policy.dueRotation(keysetID: Keyset.refreshKeysetID, keys: keys, nowSeconds: 1_086_400, config: config)
                == policy.dueRotation(keys: keys, nowSeconds: 1_086_400, tokenLifetimeSeconds: 1_000))
    }

    @Test func dailyAndManualSaltRunsDifferOnlyWhereTheyShould() {
        let now: Int64 = 1_750_000_000_000
        let daily = SaltSchedule().dailyRun(nowMillis: now)
        #expect(daily.dueBeforeMillis == SaltSchedule.dueBeforeMillis(nowMillis: now) && daily.skipIfRunSinceMillis == SaltSchedule.dayStart(now))
        let manual = SaltSchedule().manualRun(nowMillis: now, includeNotDue: false)
        #expect(manual.dueBeforeMillis == daily.dueBeforeMillis && manual.skipIfRunSinceMillis == nil)
        let everything = SaltSchedule(fractionPerDay: 1, minimumAgeDays: 30).manualRun(nowMillis: now, includeNotDue: true)
        #expect(everything.dueBeforeMillis == Int64.max)
        let young = (0..<4).map { SaltSchedule.Bucket(position: $0, lastUpdatedMillis: now, refreshFromMillis: now + 1, hasSalt: true) }
        #expect(everything.plan(candidates: young, totalBuckets: 4).rotations.count == 4, "forced: age and due date ignored")
        #expect(SaltSchedule(fractionPerDay: 1, minimumAgeDays: 30).dailyRun(nowMillis: now).plan(candidates: young, totalBuckets: 4).rotations.isEmpty)
    }

    @Test func saltSettingsMakeTheSaltSchedule() {
        let schedule = RotationPolicy(saltFractionPerDay: 0.25, saltMinimumAgeDays: 12).saltSchedule
        #expect(schedule == SaltSchedule(fractionPerDay: 0.25, minimumAgeDays: 12))
        #expect(RotationPolicy().saltSchedule == SaltSchedule())
    }
}
