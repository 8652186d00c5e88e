import Testing
import UIDOperatorCore

/// The bulk-load path the store uses for millions of opt-outs.
@Suite struct OptOutIndexTests {
    @Test func bulkLoadedHalvesAnswerLikeOneIndexAndKeepTheEarliestTime() {
        let flh = (0..<32).map { UInt8($0) }
        let advertisingID = [UInt8(0x14)] + (0..<32).map { UInt8(200 - $0) }
        var byHash = OptOutIndex(minimumCapacityByFirstLevelHash: 4, byAdvertisingID: 0)
        var byID = OptOutIndex(minimumCapacityByFirstLevelHash: 0, byAdvertisingID: 4)
        flh.withUnsafeBytes { byHash.insert(firstLevelHash: $0, optedOutSinceSeconds: 500) }
        flh.withUnsafeBytes { byHash.insert(firstLevelHash: $0, optedOutSinceSeconds: 900) }
        advertisingID.withUnsafeBytes { byID.insert(advertisingID: $0, optedOutSinceSeconds: 700) }
        advertisingID.withUnsafeBytes { byID.insert(advertisingID: $0, optedOutSinceSeconds: 600) }
        // Wrong lengths are ignored, not trapped on.
        [UInt8](repeating: 1, count: 31).withUnsafeBytes { byHash.insert(firstLevelHash: $0, optedOutSinceSeconds: 1) }

        let joined = OptOutIndex(firstLevelHashesOf: byHash, advertisingIDsOf: byID)
        var reference = OptOutIndex()
        reference.insert(firstLevelHash: flh, advertisingID: advertisingID, optedOutSinceSeconds: 600)
        #expect(joined.count == 1)
        #expect(joined.optedOutSince(firstLevelHash: flh) == 500)
        #expect(joined.optedOutSince(advertisingID: advertisingID) == 600)
        #expect(reference.optedOutSince(advertisingID: advertisingID) == joined.optedOutSince(advertisingID: advertisingID))
        #expect(joined.optedOutSince(firstLevelHash: [UInt8](repeating: 1, count: 32)) == nil)
    }
}
