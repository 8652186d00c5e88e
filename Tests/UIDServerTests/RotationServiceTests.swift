import Foundation
import Logging
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
        #expect(rotated.count == RotationPolicy().saltBucketsPerRun(total: 64))
        #expect(rotated.allSatisfy { after.salts[$0].lastUpdatedMillis == later && after.salts[$0].refreshFromMillis > later })

        // Before activation the old keys still encrypt; refresh tokens issued before keep working.
        let snapshot = try OperatorSnapshot(config: OperatorConfig(), contents: after)
        #expect(snapshot.keys.activeMasterKey(atSeconds: later / 1000)?.id == before.keys.activeMasterKey(atSeconds: later / 1000)?.id)
        let newMaster = try #require(after.keys.filter { $0.keysetID == Keyset.masterKeysetID }.max { $0.id < $1.id })
        let afterActivation = newMaster.activatesSeconds * 1000 + 1
        #expect(snapshot.keys.activeMasterKey(atSeconds: afterActivation / 1000)?.id == newMaster.id)
        guard case .success(let refreshed) = snapshot.refreshToken(body: issued.refreshToken, authenticated: true, nowMillis: afterActivation),
              case .tokens(let next) = refreshed.outcome
        else { Issue.record("refresh across the rotation failed"); return }
        #expect(try AdvertisingToken.decode(next.advertisingToken, keys: snapshot.keys).masterKeyID == newMaster.id)
        #expect(try AdvertisingToken.decode(issued.advertisingToken, keys: snapshot.keys).rawUID.count == 32, "old tokens still decode")

        // A second pass the same day does nothing.
        try await services[0].rotateDue()
        #expect(try store.loadContents().keys.count == after.keys.count)
    }
}
