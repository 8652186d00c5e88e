import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDStore

/// Keysets and their keys: manual rotation, scheduled rotation, and its locking between instances.
extension StoreContractTests {
    @Test(arguments: StoreBackend.available)
    func rotateKeyAddsAKeyAndShortensTheOthers(_ backend: StoreBackend) async throws {
        try await backend.withStore { store, _ async throws in
            let (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 8)
            try await store.initialize(with: contents)
            let key = try await store.rotateKey(keysetID: 3, expireOthersAt: 1_000) { id in
                InitialDataset.newKey(id: id, keysetID: 3, nowSeconds: 10)
            }
            #expect(key.id == 5)
            let keys = try await store.loadConfiguration().keys
            #expect(keys.map(\.id) == [1, 2, 3, 4, 5])
            #expect(keys.first { $0.id == 4 }?.expiresSeconds == 1_000, "the keyset's older key expires no later than asked")
            #expect(keys.first { $0.id == 5 }?.expiresSeconds == KeyExpiry.default.expiresSeconds(keysetID: 3, activatesSeconds: 10),
                    "the new key keeps its own expiry")
            #expect(keys.first { $0.id == 5 }?.secret == key.secret)
            #expect(keys.filter { $0.keysetID != 3 }.allSatisfy { $0.expiresSeconds > 1_000 }, "other keysets untouched")

            // Without `expireOthersAt` the older keys keep their expiry; an earlier expiry is never moved later.
            _ = try await store.rotateKey(keysetID: 3, expireOthersAt: nil) { id in InitialDataset.newKey(id: id, keysetID: 3, nowSeconds: 20) }
            _ = try await store.rotateKey(keysetID: 3, expireOthersAt: 5_000) { id in InitialDataset.newKey(id: id, keysetID: 3, nowSeconds: 30) }
            let after = try await store.loadConfiguration().keys
            #expect(after.first { $0.id == 4 }?.expiresSeconds == 1_000)
            #expect(after.first { $0.id == 6 }?.expiresSeconds == 5_000)

            await #expect {
                _ = try await store.rotateKey(keysetID: 77, expireOthersAt: nil) { id in InitialDataset.newKey(id: id, keysetID: 77, nowSeconds: 1) }
            } throws: { error in
                if case StoreError.notFound = error { true } else { false }
            }
            #expect(try await store.loadConfiguration().keys.count == 7, "a refused rotation adds nothing")
        }
    }

    @Test(arguments: StoreBackend.available)
    func rotateDueKeysRotatesOnlyWhatThePlanSaysIsDue(_ backend: StoreBackend) async throws {
        try await backend.withStore { store, _ async throws in
            let (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 8)
            try await store.initialize(with: contents)
            let keysetIDs = contents.keysets.map(\.id).sorted()
            let later = Self.start / 1000 + 3 * 86_400
            let rotation = try #require(RotationPolicy().dueRotation(keys: contents.keys.filter { $0.keysetID == 3 }, nowSeconds: later,
                                                                     tokenLifetimeSeconds: 86_400))
            #expect(rotation.expireOthersAtSeconds < rotation.expiresSeconds)
            let added = try await store.rotateDueKeys(keysetIDs: keysetIDs) { keysetID, keys in
                #expect(keys.map(\.keysetID).allSatisfy { $0 == keysetID } && keys.count == 1, "the plan sees the keyset's own keys")
                return keysetID == 3 ? rotation : nil
            } makeKey: { id, keysetID, rotation in
                KeysetKey(id: id, keysetID: keysetID, createdSeconds: later, activatesSeconds: rotation.activatesSeconds,
                          expiresSeconds: rotation.expiresSeconds, secret: APIKeyHasher.randomBytes(32))!
            }
            #expect(added.map(\.id) == [5] && added.map(\.keysetID) == [3])
            let keys = try await store.loadConfiguration().keys
            #expect(keys.first { $0.id == 5 }?.activatesSeconds == rotation.activatesSeconds)
            #expect(keys.first { $0.id == 5 }?.expiresSeconds == rotation.expiresSeconds)
            let older = try #require(contents.keys.first { $0.id == 4 })
            #expect(keys.first { $0.id == 4 }?.expiresSeconds == min(older.expiresSeconds, rotation.expireOthersAtSeconds))
            #expect(zip(keys.filter { $0.keysetID != 3 }, contents.keys.filter { $0.keysetID != 3 }).allSatisfy { $0.expiresSeconds == $1.expiresSeconds },
                    "other keysets untouched")

            let none = try await store.rotateDueKeys(keysetIDs: keysetIDs) { _, _ in nil } makeKey: { _, _, _ in
                Issue.record("nothing due: no key made")
                return keys[0]
            }
            let count = try await store.loadConfiguration().keys.count
            #expect(none.isEmpty && count == 5)
        }
    }

    /// Scheduled rotation from two instances at once: each due keyset gets one key, the salts one run.
    @Test(arguments: StoreBackend.available)
    func racingInstancesRotateEachDueKeyAndTheSaltsOnce(_ backend: StoreBackend) async throws {
        try await backend.withLocation { location in
            var (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 64)
            var salts = SaltTable(firstLevelSalt: contents.salts.firstLevelSalt, idPrefix: "b", idSecret: "s")
            for position in 0..<64 {
                var entry = contents.salts[position]
                entry.refreshFromMillis = Self.start
                salts.append(entry)
            }
            contents.salts = salts
            try await location.withStore { store in try await store.initialize(with: contents) }

            let later = Self.start + 3 * 86_400_000
            let policy = RotationPolicy()
            let keysetIDs = contents.keysets.map(\.id).sorted()
            let perRun = SaltSchedule.bucketsPerRun(total: 64, fraction: policy.saltFractionPerDay)
            let schedule = policy.saltSchedule
            var rotatedKeys = [KeysetKey]()
            var rotatedBuckets = 0
            for round in 0..<3 {
                let results = try await withThrowingTaskGroup(of: ([KeysetKey], Int).self) { group in
                    for _ in 0..<2 {
                        group.addTask {
                            try await location.withStore { node async throws in
                                let keys = try await node.rotateDueKeys(keysetIDs: keysetIDs) { _, keys in
                                    policy.dueRotation(keys: keys, nowSeconds: later / 1000, tokenLifetimeSeconds: 86_400)
                                } makeKey: { id, keysetID, rotation in
                                    KeysetKey(id: id, keysetID: keysetID, createdSeconds: later / 1000, activatesSeconds: rotation.activatesSeconds,
                                              expiresSeconds: rotation.expiresSeconds, secret: APIKeyHasher.randomBytes(32))!
                                }
                                let outcome = try await Self.rotateSalts(node, nowMillis: later, skipIfRunSince: SaltSchedule.dayStart(later),
                                                                         schedule: schedule)
                                return (keys, outcome?.rotated ?? 0)
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                rotatedKeys += results.flatMap(\.0)
                rotatedBuckets += results.map(\.1).reduce(0, +)
                #expect(rotatedKeys.count == keysetIDs.count, "round \(round)")
            }
            #expect(rotatedBuckets == perRun)

            let after = try await location.withStore { store in try await store.loadContents() }
            for keysetID in keysetIDs {
                #expect(after.keys.filter { $0.keysetID == keysetID }.count == 2, "keyset \(keysetID)")
            }
            #expect(Set(after.keys.map(\.id)).count == after.keys.count, "distinct key ids")
            let rotated = (0..<64).filter { after.salts[$0].previousSalt != nil }
            #expect(rotated.count == perRun)
            #expect(rotated.allSatisfy { after.salts[$0].lastUpdatedMillis == later && after.salts[$0].refreshFromMillis > later })
        }
    }
}
