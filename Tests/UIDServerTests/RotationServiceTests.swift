import Foundation
import Logging
import Synchronization
import Testing
import UIDOperatorCore
import UIDProtocol
import UIDStore
@testable import UIDServer

@Suite struct RotationServiceTests {
    static let start: Int64 = 1_750_000_000_000

    func makeStore() throws -> (SQLiteStore, String, StoreContents) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rotation-\(UUID().uuidString).sqlite").path
        let store = try SQLiteStore(path: path)
        var (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 64)
        // Buckets already past their refresh_from, so the daily salt rotation has work to do.
        var salts = SaltTable(firstLevelSalt: contents.salts.firstLevelSalt, idPrefix: "b", idSecret: "s")
        for position in 0..<64 {
            var entry = contents.salts[position]
            entry.refreshFromMillis = Self.start
            salts.append(entry)
        }
        contents.salts = salts
        try store.initialize(with: contents)
        return (store, path, contents)
    }

    @Test func racingNodesAddExactlyOneKeyPerKeysetAndTokensSurvive() async throws {
        let (store, path, contents) = try makeStore()
        let later = Self.start + 3 * 86_400_000
        let clock = OperatorClock { later }
        let before = try OperatorSnapshot(config: OperatorConfig(), contents: contents)
        guard case .success(.tokens(let issued)) = before.generateToken(
            GenerateTokenRequest(identity: IdentityFields(email: .string("rotate@example.com"))), client: contents.clients[0], nowMillis: later)
        else { Issue.record("generate failed"); return }

        // Two "nodes": separate store handles on one file, each with its own service.
        let services = try (0..<2).map { _ in
            RotationService(store: try SQLiteStore(path: path), holder: SnapshotHolder(before), policy: RotationPolicy(),
                            checkInterval: .seconds(60), clock: clock, logger: Logger(label: "test"))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for service in services { group.addTask { try await service.rotateDue() } }
            try await group.waitForAll()
        }

        let after = try store.loadContents()
        for keyset in contents.keysets {
            #expect(after.keys.filter { $0.keysetID == keyset.id }.count == 2, "keyset \(keyset.id)")
        }
        let rotated = (0..<64).filter { after.salts[$0].previousSalt != nil }
        #expect(rotated.count == SaltSchedule.bucketsPerRun(total: 64, fraction: RotationPolicy().saltFractionPerDay))
        #expect(rotated.allSatisfy { after.salts[$0].lastUpdatedMillis == later && after.salts[$0].refreshFromMillis > later })

        // Before activation the old keys still encrypt; refresh tokens issued before keep working.
        let snapshot = try OperatorSnapshot(config: OperatorConfig(), contents: after)
        #expect(snapshot.keys.activeMasterKey(atSeconds: later / 1000)?.id == before.keys.activeMasterKey(atSeconds: later / 1000)?.id)
        let newMaster = try #require(after.keys.filter { $0.keysetID == Keyset.masterKeysetID }.max { $0.id < $1.id })
        let afterActivation = newMaster.activatesSeconds * 1000 + 1
        #expect(snapshot.keys.activeMasterKey(atSeconds: afterActivation / 1000)?.id == newMaster.id)
        let opened = try SealedRefreshToken.open(issued.refreshToken, keys: snapshot.keys)
        let request = TokenRefreshRequest(refreshToken: opened.refreshToken, authenticated: true)
        guard case .success(.tokens(let next)) = snapshot.refreshToken(request, nowMillis: afterActivation)
        else { Issue.record("refresh across the rotation failed"); return }
        #expect(try AdvertisingToken.decode(next.advertisingToken, keys: snapshot.keys).masterKeyID == newMaster.id)
        #expect(try AdvertisingToken.decode(issued.advertisingToken, keys: snapshot.keys).rawUID.count == 32, "old tokens still decode")

        // A second pass the same day does nothing.
        try await services[0].rotateDue()
        #expect(try store.loadContents().keys.count == after.keys.count)
    }

    /// A year of daily runs through the service and the store, with an injected clock: on a freshly
    /// seeded table, and on one as imported from the reference (last rotations anywhere in the past
    /// two years, a quarter of the due dates already passed, previous salts present).
    @Test(arguments: [false, true]) func aYearOfDailyRotationsKeepsRefreshFromAheadAndTheLoadSteady(imported: Bool) async throws {
        let day = SaltSchedule.dayMillis
        let buckets = 3_000
        let start = SaltSchedule.dayStart(Self.start) + 3_600_000
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("year-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SQLiteStore(path: path)
        var (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: start, bucketCount: buckets)
        if imported {
            var salts = SaltTable(firstLevelSalt: contents.salts.firstLevelSalt, idPrefix: "b", idSecret: "s", expectedCount: buckets)
            for position in 0..<buckets {
                var entry = contents.salts[position]
                entry.lastUpdatedMillis = start - Int64.random(in: 0..<(730 * day))
                entry.refreshFromMillis = position % 4 == 0
                    ? start - Int64.random(in: 0..<(40 * day))
                    : SaltSchedule.nextRefreshFrom(lastUpdatedMillis: entry.lastUpdatedMillis, afterDay: SaltSchedule.dayStart(start))
                if position % 3 == 0 { entry.previousSalt = Array("previous".utf8) }
                salts.append(entry)
            }
            contents.salts = salts
            try store.initialize(with: InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: start, bucketCount: 1).contents)
            try store.replaceContents(with: contents)
        } else {
            try store.initialize(with: contents)
        }
        let policy = RotationPolicy(keyIntervalSeconds: 20 * 365 * 86_400)
        let perRun = SaltSchedule.bucketsPerRun(total: buckets, fraction: policy.saltFractionPerDay)
        let holder = SnapshotHolder(try OperatorSnapshot(config: OperatorConfig(), contents: contents))
        let emails = (0..<40).map { "year.\($0)@example.com" }
        var everRotated = Set<Int64>()

        func expectMappingAhead(_ snapshot: OperatorSnapshot, of now: Int64, _ moment: String) {
            for email in emails {
                guard case .mapped(_, _, let refreshFrom, _) = snapshot.mapIdentity(kind: .email, value: email, nowMillis: now) else {
                    Issue.record("not mapped \(moment)")
                    return
                }
                #expect(refreshFrom > now, "identity map v3 refresh_from \(moment)")
            }
        }

        var snapshot = try OperatorSnapshot(config: OperatorConfig(), contents: try store.loadContents())
        for dayIndex in 1...365 {
            // A minute of synchronous work per argument: let the other suites' tasks run between days
            // rather than hold the machine's few cooperative threads for all of it.
            await Task.yield()
            let now = start + Int64(dayIndex) * day + Int64(dayIndex % 5) * 600_000
            // The store as it is before the day's run (loaded after the previous one).
            expectMappingAhead(snapshot, of: now, "before day \(dayIndex)'s run")
            let before = snapshot.salts
            let due = (0..<buckets).filter { before[$0].refreshFromMillis < SaltSchedule.dueBeforeMillis(nowMillis: now) }
            if !imported {
                #expect(due.count == buckets / 30, "day \(dayIndex): a 30th of the table falls due each day")
            } else if dayIndex > 1 {
                #expect((40...200).contains(due.count), "day \(dayIndex): \(due.count) due")
            }

            let service = RotationService(store: store, holder: holder, policy: policy, checkInterval: .seconds(60),
                                          clock: OperatorClock { now }, logger: Logger(label: "test"))
            try await service.rotateDue()
            try await service.rotateDue()  // a second pass that day (another node) changes nothing

            snapshot = try OperatorSnapshot(config: OperatorConfig(), contents: try store.loadContents())
            let after = snapshot.salts
            let rotated = (0..<buckets).filter { after.lastUpdatedMillis(at: $0) == now }
            #expect((Int(Double(perRun) * 0.8)...perRun).contains(rotated.count), "day \(dayIndex): \(rotated.count) rotated")
            #expect(rotated.allSatisfy { due.contains($0) }, "only due buckets rotate")
            everRotated.formUnion(rotated.map { after[$0].id })
            let behind = (0..<buckets).filter { after[$0].refreshFromMillis <= now }
            #expect(behind.isEmpty, "day \(dayIndex): stored refresh_from not ahead for \(behind.count) buckets")
            let kept = (0..<buckets).filter { after[$0].previousSalt != nil }
            #expect(kept.allSatisfy { after[$0].lastUpdatedMillis >= SaltSchedule.dayStart(now) - 89 * day }, "previous salts kept under 90 days only")
            if dayIndex > 100 { #expect(!kept.isEmpty, "recently rotated buckets keep their previous salt") }
            expectMappingAhead(snapshot, of: now, "after day \(dayIndex)'s run")
        }
        #expect(everRotated.count > buckets * 6 / 10, "most buckets rotated within the year: \(everRotated.count)")
    }

    /// Two nodes with a snapshot older than the store's keys, and a store that counts the lock-taking calls.
    @Test func aCheckWithNothingDueTakesNoLockAndADueOneTakesItOnce() async throws {
        let (store, path, contents) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let clock = SettableClock(Self.start + 60_000)
        let counting = CountingRotationStore(store)
        let holder = SnapshotHolder(try OperatorSnapshot(config: OperatorConfig(), contents: contents))
        let service = RotationService(store: counting, holder: holder, policy: RotationPolicy(), checkInterval: .seconds(60),
                                      clock: clock.operatorClock, logger: Logger(label: "test"))

        // Keys a minute old: nothing due. The day's salt run is asked for once, then known done.
        for _ in 0..<3 { try await service.rotateDue() }
        #expect(counting.keyCalls == 0, "no key lock while nothing is due")
        #expect(counting.saltCalls == 1, "the salt lock once a day")
        #expect(try store.loadContents().keys.count == contents.keys.count)

        // Three days on every keyset is due: the lock is taken once, for every keyset at once.
        clock.set(Self.start + 3 * 86_400_000)
        try await service.rotateDue()
        #expect(counting.keyCalls == 1 && counting.saltCalls == 2)
        let rotated = try store.loadContents()
        #expect(rotated.keys.count == contents.keys.count + contents.keysets.filter(\.enabled).count)

        // The snapshot still shows the old keys: the store, checking again under the lock, adds none.
        try await service.rotateDue()
        #expect(counting.keyCalls == 2 && counting.saltCalls == 2)
        #expect(try store.loadContents().keys.count == rotated.keys.count)

        // Once the node has reloaded, nothing looks due any more and no lock is taken.
        holder.replace(with: try OperatorSnapshot(config: OperatorConfig(), contents: rotated))
        clock.set(Self.start + 3 * 86_400_000 + 120_000)
        try await service.rotateDue()
        #expect(counting.keyCalls == 2 && counting.saltCalls == 2)
    }

    @Test func racingNodesThatBothSeeAKeysetDueAddOneKey() async throws {
        let (store, path, contents) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let later = Self.start + 3 * 86_400_000
        let snapshot = try OperatorSnapshot(config: OperatorConfig(), contents: contents)
        let nodes = try (0..<2).map { _ in CountingRotationStore(try SQLiteStore(path: path)) }
        let services = nodes.map { node in
            RotationService(store: node, holder: SnapshotHolder(snapshot), policy: RotationPolicy(), checkInterval: .seconds(60),
                            clock: OperatorClock { later }, logger: Logger(label: "test"))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for service in services { group.addTask { try await service.rotateDue() } }
            try await group.waitForAll()
        }
        #expect(nodes.allSatisfy { $0.keyCalls == 1 }, "both saw the keysets due and took the lock")
        #expect(nodes.map(\.keysAdded).reduce(0, +) == contents.keysets.filter(\.enabled).count, "exactly one key per keyset between them")
        let after = try store.loadContents()
        for keyset in contents.keysets {
            #expect(after.keys.filter { $0.keysetID == keyset.id }.count == 2, "keyset \(keyset.id)")
        }
    }
}

/// A clock a test moves by hand.
final class SettableClock: Sendable {
    private let millis: Mutex<Int64>

    init(_ millis: Int64) { self.millis = Mutex(millis) }

    func set(_ value: Int64) { millis.withLock { $0 = value } }

    var operatorClock: OperatorClock { OperatorClock { self.millis.withLock { $0 } } }
}

/// Passes the scheduled rotations on to a real store and counts them: each call takes the store's
/// key or salt lock.
final class CountingRotationStore: ScheduledRotationStore {
    let store: any OperatorStore
    private let counts = Mutex((keys: 0, salts: 0, keysAdded: 0))

    init(_ store: any OperatorStore) { self.store = store }

    var keyCalls: Int { counts.withLock { $0.keys } }
    var saltCalls: Int { counts.withLock { $0.salts } }
    var keysAdded: Int { counts.withLock { $0.keysAdded } }

    func rotateDueKeys(
        keysetIDs: [Int32], plan: @escaping @Sendable (_ keysetID: Int32, _ keys: [KeysetKey]) -> RotationPolicy.KeyRotation?,
        makeKey: @escaping @Sendable (_ keyID: Int32, _ keysetID: Int32, _ rotation: RotationPolicy.KeyRotation) -> KeysetKey
    ) async throws -> [KeysetKey] {
        counts.withLock { $0.keys += 1 }
        let added = try await store.rotateDueKeys(keysetIDs: keysetIDs, plan: plan, makeKey: makeKey)
        counts.withLock { $0.keysAdded += added.count }
        return added
    }

    func rotateSalts(
        nowMillis: Int64, dueBeforeMillis: Int64, skipIfRunSinceMillis: Int64?,
        plan: @escaping @Sendable (_ candidates: [SaltSchedule.Bucket], _ totalBuckets: Int) -> SaltSchedule.Plan
    ) async throws -> SaltRotationOutcome? {
        counts.withLock { $0.salts += 1 }
        return try await store.rotateSalts(nowMillis: nowMillis, dueBeforeMillis: dueBeforeMillis, skipIfRunSinceMillis: skipIfRunSinceMillis, plan: plan)
    }
}
