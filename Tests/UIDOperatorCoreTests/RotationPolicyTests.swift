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

    @Test func saltSettingsMakeTheSaltSchedule() {
        let schedule = RotationPolicy(saltFractionPerDay: 0.25, saltMinimumAgeDays: 12).saltSchedule
        #expect(schedule == SaltSchedule(fractionPerDay: 0.25, minimumAgeDays: 12))
        #expect(RotationPolicy().saltSchedule == SaltSchedule())
    }
}
