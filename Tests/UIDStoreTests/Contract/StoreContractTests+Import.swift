import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDStore

/// Bulk writes: a core import replacing the configuration and salts, and opt-out imports.
extension StoreContractTests {
    @Test(arguments: StoreBackend.available)
    func aCoreImportReplacesEverythingButTheOptOuts(_ backend: StoreBackend) async throws {
        try await backend.withStore { store, _ async throws in
            let (seed, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 7)
            try await store.initialize(with: seed)
            try await store.recordOptOut(OptOutRecord(firstLevelHash: Self.flh(1), advertisingID: nil, optedOutSinceSeconds: 10))

            let core = try GeneratedCore.make(bucketCount: 48)
            defer { core.remove() }
            let imported = try CoreImport.read(directory: core.directory, nowMillis: GeneratedCore.now).contents
            let before = try await store.version()
            try await store.replaceContents(with: imported)
            let after = try await store.version()
            #expect(after.configuration > before.configuration && after.salts > before.salts, "running nodes notice the import")

            let loaded = try await store.loadContents()
            ImportTests.expectSame(loaded, imported, keysInFileOrder: false)
            #expect(loaded.optOuts.optedOutSince(firstLevelHash: Self.flh(1)) == 10, "opt-outs stay")
            let snapshot = try OperatorSnapshot(config: OperatorConfig(), contents: loaded)
            #expect(snapshot.clients.client(forAPIKey: core.credentials.apiKey)?.siteID == 999)

            // Importing twice is the same as importing once.
            try await store.replaceContents(with: imported)
            ImportTests.expectSame(try await store.loadContents(), imported, keysInFileOrder: false)
        }
    }

    /// The last salt run is taken to be the newest bucket's rotation, never later than now: an
    /// imported table dated in the future does not hold rotation off until then.
    @Test(arguments: StoreBackend.available)
    func anImportDatesTheLastSaltRunByItsNewestBucketButNeverInTheFuture(_ backend: StoreBackend) async throws {
        try await backend.withStore { store, _ async throws in
            let (seed, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 8)
            try await store.initialize(with: seed)
            let newest = seed.salts.lastUpdatedMillis(at: 0)
            #expect((0..<8).allSatisfy { seed.salts.lastUpdatedMillis(at: $0) <= newest })
            try await store.replaceContents(with: seed)
            #expect(try await Self.rotateSalts(store, nowMillis: newest + 1, skipIfRunSince: newest) == nil, "a run at the newest bucket's time is recorded")
            #expect(try await Self.rotateSalts(store, nowMillis: newest + 1, dueBeforeMillis: 0, skipIfRunSince: newest + 1) != nil)

            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let (future, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: now + 365 * SaltSchedule.dayMillis, bucketCount: 8)
            try await store.replaceContents(with: future)
            #expect(try await Self.rotateSalts(store, nowMillis: now, skipIfRunSince: now - 60_000) == nil, "recorded as now")
            #expect(try await Self.rotateSalts(store, nowMillis: now, dueBeforeMillis: 0, skipIfRunSince: now + SaltSchedule.dayMillis) != nil,
                    "not as the buckets' future date")
        }
    }

    @Test(arguments: StoreBackend.available)
    func importOptOutsAddsOnlyNewIdentitiesInRecordOrder(_ backend: StoreBackend) async throws {
        try await backend.withStore { store, _ async throws in
            try await store.recordOptOut(OptOutRecord(firstLevelHash: Self.flh(1), advertisingID: nil, optedOutSinceSeconds: 10))
            let uid = [UInt8](repeating: 7, count: 32)
            let records = [
                OptOutRecord(firstLevelHash: Self.flh(1), advertisingID: uid, optedOutSinceSeconds: 1),  // present: kept as it is
                OptOutRecord(firstLevelHash: Self.flh(3), advertisingID: nil, optedOutSinceSeconds: 30),
                OptOutRecord(firstLevelHash: Self.flh(2), advertisingID: uid, optedOutSinceSeconds: 20),
                OptOutRecord(firstLevelHash: Self.flh(3), advertisingID: uid, optedOutSinceSeconds: 3),  // duplicate: the first wins
            ]
            #expect(try await store.importOptOuts(records) == 2)
            #expect(try await store.importOptOuts(records) == 0, "importing again adds nothing")
            #expect(try await store.importOptOuts([]) == 0)
            await #expect(throws: ImportRecordError.self, "a first-level hash is 32 bytes") {
                try await store.importOptOuts([OptOutRecord(firstLevelHash: [1, 2, 3], advertisingID: nil, optedOutSinceSeconds: 1)])
            }
            #expect(try await store.optOutCount() == 3)
            let batch = try await store.optOuts(after: 1)
            #expect(batch.records.map(\.record) == [records[1], records[2]], "imported in record order, after the existing ids")
            let index = try await store.loadState(includingSalts: false, includingOptOuts: true).contents.optOuts
            #expect(index.optedOutSince(firstLevelHash: Self.flh(1)) == 10)
            #expect(index.optedOutSince(firstLevelHash: Self.flh(3)) == 30)
            #expect(index.optedOutSince(advertisingID: uid) == 20, "flh(1)'s row was not given the advertising id")
        }
    }
}
