import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDStore

/// Change tracking: the versions nodes poll move on every real change, and only then.
extension StoreContractTests {
    @Test(arguments: StoreBackend.available)
    func versionsMoveOnEveryRealChangeAndOnlyThen(_ backend: StoreBackend) async throws {
        try await backend.withStore { store, _ async throws in
            // 30 buckets: seeded as if rotating all along, one falls due each day.
            let (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: Self.start, bucketCount: 30)
            try await store.initialize(with: contents)
            var last = try await store.version()
            #expect(last.configuration > 1 && last.salts > 1, "seeding is a change")

            func expectChange(configuration: Bool, salts: Bool, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
                let now = try await store.version()
                #expect((now.configuration != last.configuration) == configuration, "configuration after \(what)", sourceLocation: sourceLocation)
                #expect((now.salts != last.salts) == salts, "salts after \(what)", sourceLocation: sourceLocation)
                last = now
            }

            let (client, _) = InitialDataset.newClient(scope: .uid2, environment: .test, siteID: 999, roles: [.generator], name: "c", nowSeconds: 1)
            try await store.addClient(client)
            try await expectChange(configuration: true, salts: false, "addClient")
            try await store.updateClient(client)
            try await expectChange(configuration: false, salts: false, "updateClient with nothing changed")
            var disabled = client
            disabled.disabled = true
            try await store.updateClient(disabled)
            try await expectChange(configuration: true, salts: false, "disabling a client")
            try await store.updateClient(disabled)
            try await expectChange(configuration: false, salts: false, "disabling it again")
            try await store.addSite(Site(id: 5, name: "s")) { keysetID, keyID in
                (InitialDataset.siteKeyset(siteID: 5, keysetID: keysetID, nowSeconds: 1), InitialDataset.newKey(id: keyID, keysetID: keysetID, nowSeconds: 1))
            }
            try await expectChange(configuration: true, salts: false, "addSite")
            try await store.updateSite(Site(id: 5, name: "t", domainNames: ["example.com"]))
            try await expectChange(configuration: true, salts: false, "updateSite")
            try await store.updateSite(Site(id: 5, name: "t", domainNames: ["example.com"]))
            try await expectChange(configuration: false, salts: false, "updateSite with nothing changed")
            let keypair = ClientSideKeypair.generate(siteID: 5, scope: .uid2, environment: .test, nowSeconds: 1)
            try await store.addKeypair(keypair)
            try await expectChange(configuration: true, salts: false, "addKeypair")
            _ = try await store.setKeypairDisabled(subscriptionID: keypair.subscriptionID, disabled: true)
            try await expectChange(configuration: true, salts: false, "setKeypairDisabled")
            _ = try await store.setKeypairDisabled(subscriptionID: keypair.subscriptionID, disabled: true)
            try await expectChange(configuration: false, salts: false, "setKeypairDisabled again")
            _ = try await store.setKeypairDisabled(subscriptionID: "missing", disabled: true)
            try await expectChange(configuration: false, salts: false, "setKeypairDisabled of nothing")
            var settings = RuntimeSettings()
            settings.identityV3 = true
            try await store.setRuntimeSettings(settings)
            try await expectChange(configuration: true, salts: false, "setRuntimeSettings")
            try await store.setRuntimeSettings(settings)
            try await expectChange(configuration: false, salts: false, "the same settings again")
            _ = try await store.rotateKey(keysetID: 3, expireOthersAt: nil) { id in InitialDataset.newKey(id: id, keysetID: 3, nowSeconds: 1) }
            try await expectChange(configuration: true, salts: false, "rotateKey")
            _ = try await store.rotateDueKeys(keysetIDs: [1, 2, 3]) { _, _ in nil } makeKey: { id, keysetID, _ in
                InitialDataset.newKey(id: id, keysetID: keysetID, nowSeconds: 1)
            }
            try await expectChange(configuration: false, salts: false, "rotateDueKeys with nothing due")
            try await store.recordOptOut(OptOutRecord(firstLevelHash: Self.flh(1), advertisingID: nil, optedOutSinceSeconds: 1))
            try await expectChange(configuration: false, salts: false, "recordOptOut (opt-outs are polled by id)")
            #expect(try await store.importOptOuts([OptOutRecord(firstLevelHash: Self.flh(2), advertisingID: nil, optedOutSinceSeconds: 1)]) == 1)
            try await expectChange(configuration: false, salts: false, "importOptOuts")

            let runAt = Self.start + 2 * SaltSchedule.dayMillis
            let nothingDue = try #require(try await Self.rotateSalts(store, nowMillis: runAt, dueBeforeMillis: 0, skipIfRunSince: SaltSchedule.dayStart(runAt)))
            #expect(!nothingDue.changedAnything)
            try await expectChange(configuration: false, salts: false, "a salt run that changed nothing")
            #expect(try await Self.rotateSalts(store, nowMillis: runAt + 1, dueBeforeMillis: .max, skipIfRunSince: SaltSchedule.dayStart(runAt)) == nil,
                    "one run a day")
            try await expectChange(configuration: false, salts: false, "a skipped salt run")
            let nextDay = runAt + SaltSchedule.dayMillis
            let real = try #require(try await Self.rotateSalts(store, nowMillis: nextDay, skipIfRunSince: SaltSchedule.dayStart(nextDay)))
            #expect(real.rotated == 1 && real.rescheduled == 2, "three days since seeding: three buckets due, one old enough to rotate")
            try await expectChange(configuration: false, salts: true, "a salt run that moved a bucket")

            try await store.replaceContents(with: contents)
            try await expectChange(configuration: true, salts: true, "replaceContents")
        }
    }

    @Test(arguments: StoreBackend.available)
    func runtimeSettingsRoundTripAndReachOtherInstances(_ backend: StoreBackend) async throws {
        try await backend.withStore { store, location in
            var settings = RuntimeSettings()
            settings.identityTokenExpiresAfterSeconds = 7_200
            settings.identityScope = "EUID"
            try await store.setRuntimeSettings(settings)
            #expect(try await store.runtimeSettings() == settings)
            settings.identityV3 = true
            try await store.setRuntimeSettings(settings)
            try await location.withStore { other async throws in
                #expect(try await other.runtimeSettings() == settings)
                #expect(try await other.loadState(includingSalts: false, includingOptOuts: false).runtimeSettings == settings)
            }
        }
    }
}
