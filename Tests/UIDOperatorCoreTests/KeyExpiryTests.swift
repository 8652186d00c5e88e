import Testing
import UIDOperatorCore
import UIDProtocol

@Suite struct KeyExpiryTests {
    /// The largest time a 32-bit signed reader (the official C++ SDK) can hold: 2038-01-19.
    static let int32Limit = Int64(Int32.max)
    /// 2026-11-01T00:00:00Z.
    static let start: Int64 = 1_793_491_200

    @Test func masterAndRefreshKeysUseTheMasterPeriodOthersTheSitePeriod() {
        let expiry = KeyExpiry(masterKeyExpiresAfterSeconds: 60_000, siteKeyExpiresAfterSeconds: 90_000)
        #expect(expiry.expiresSeconds(keysetID: Keyset.masterKeysetID, activatesSeconds: 100) == 60_100)
        #expect(expiry.expiresSeconds(keysetID: Keyset.refreshKeysetID, activatesSeconds: 100) == 60_100)
        #expect(expiry.expiresSeconds(keysetID: Keyset.fallbackPublisherKeysetID, activatesSeconds: 100) == 90_100)
        #expect(expiry.expiresSeconds(keysetID: 7, activatesSeconds: 100) == 90_100)
        #expect(expiry.expiresSeconds(keysetID: 7, activatesSeconds: .max) == .max, "saturates instead of trapping")
    }

    @Test func defaultsCoverEveryTokenAKeyEncrypts() {
        // A key encrypts until the next daily rotation activates its successor; refresh and sharing
        // tokens, the longest-lived, live 30 days.
        let longestToken = TokenLifetimes.privateOperatorDefaults.refreshTokenExpiresAfterSeconds
        let usedFor = RotationPolicy().keyIntervalSeconds + RotationPolicy().activationLeadSeconds
        for keysetID: Int32 in [-1, -2, 2, 3, 1000] {
            #expect(KeyExpiry.default.expiresAfterSeconds(keysetID: keysetID) >= usedFor + longestToken)
        }
    }

    @Test func seededKeysExpireAfterTheConfiguredPeriods() {
        let expiry = KeyExpiry(masterKeyExpiresAfterSeconds: 1_000, siteKeyExpiresAfterSeconds: 2_000)
        let (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start * 1000, bucketCount: 1, keyExpiry: expiry)
        for key in contents.keys {
            let period: Int64 = key.keysetID == Keyset.masterKeysetID || key.keysetID == Keyset.refreshKeysetID ? 1_000 : 2_000
            #expect(key.activatesSeconds == Self.start && key.expiresSeconds == Self.start + period, "key \(key.id)")
        }
    }

    /// Ten years of daily scheduled rotations and manual rotations (`keys rotate`) from a store
    /// seeded now: every key time stays below 2^31.
    @Test func everyKeyTimeOfTheNextDecadeFitsIn32Bits() {
        let policy = RotationPolicy()
        let (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start * 1000, bucketCount: 1)
        var keys = contents.keys
        var nextID = (keys.map(\.id).max() ?? 0) + 1
        let decade = Self.start + 3_653 * 86_400
        var now = Self.start
        var made = 0
        while now <= decade {
            for keyset in contents.keysets {
                let own = keys.filter { $0.keysetID == keyset.id }
                let lifetime = keyset.id == Keyset.refreshKeysetID
                    ? TokenLifetimes.privateOperatorDefaults.refreshTokenExpiresAfterSeconds : 2_592_000
                if let due = policy.dueRotation(keys: own, nowSeconds: now, tokenLifetimeSeconds: lifetime),
                   let key = KeysetKey(id: nextID, keysetID: keyset.id, createdSeconds: now, activatesSeconds: due.activatesSeconds,
                                       expiresSeconds: due.expiresSeconds, secret: [UInt8](repeating: 1, count: 32)) {
                    keys = keys.filter { $0.keysetID != keyset.id || $0.expiresSeconds > now } + [key]
                    nextID += 1
                    made += 1
                    #expect(key.createdSeconds < Self.int32Limit && key.activatesSeconds < Self.int32Limit && key.expiresSeconds < Self.int32Limit,
                            "scheduled key \(key.id) of keyset \(keyset.id): expires \(key.expiresSeconds)")
                }
                let manual = KeyExpiry.default.expiresSeconds(keysetID: keyset.id, activatesSeconds: now + 3_600)
                #expect(manual < Self.int32Limit, "a manual rotation at \(now) expires at \(manual)")
            }
            now += 86_400
        }
        #expect(made >= 4 * 3_650, "every keyset rotated about daily")
        #expect(contents.keys.allSatisfy { $0.expiresSeconds < Self.int32Limit })
    }
}
