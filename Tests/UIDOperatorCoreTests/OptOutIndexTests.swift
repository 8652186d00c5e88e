import Testing
import UIDOperatorCore

/// The flat opt-out index, checked against a plain dictionary model of what it must answer.
@Suite struct OptOutIndexTests {
    /// Deterministic pseudo-random bytes (splitmix64), so failures reproduce.
    struct Bytes {
        var state: UInt64
        mutating func next(_ count: Int) -> [UInt8] {
            (0..<count).map { _ in
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return UInt8(truncatingIfNeeded: z ^ (z >> 31))
            }
        }
    }

    /// What the index must answer: the earliest time per key, each side on its own.
    struct Model {
        var byHash: [[UInt8]: Int64] = [:]
        var byID: [[UInt8]: Int64] = [:]
        mutating func add(_ flh: [UInt8]?, _ id: [UInt8]?, _ seconds: Int64) {
            if let flh, flh.count == 32 { byHash[flh] = min(byHash[flh] ?? seconds, seconds) }
            if let id, id.count == 32 || id.count == 33 { byID[id] = min(byID[id] ?? seconds, seconds) }
        }
    }

    typealias Record = (flh: [UInt8], id: [UInt8]?, seconds: Int64)

    /// Records with repeated hashes and ids (some earlier, some later), 32- and 33-byte ids, and none.
    static func records(_ count: Int, seed: UInt64) -> [Record] {
        var bytes = Bytes(state: seed)
        var made: [Record] = []
        for index in 0..<count {
            let seconds = Int64(1_700_000_000) + Int64(bytes.next(1)[0]) * 1_000 + Int64(index % 7)
            switch index % 10 {
            case 3 where !made.isEmpty: made.append((made[index / 2].flh, bytes.next(33), seconds))        // a hash again
            case 5 where !made.isEmpty: made.append((bytes.next(32), made[index / 3].id, seconds))         // an id again
            case 7: made.append((bytes.next(32), nil, seconds))
            case 8: made.append((bytes.next(32), [0x20] + bytes.next(32), seconds))
            default: made.append((bytes.next(32), bytes.next(32), seconds))
            }
        }
        return made
    }

    static func built(_ records: [Record]) -> OptOutIndex {
        var builder = OptOutIndex.Builder(capacity: records.count)
        for record in records {
            record.flh.withUnsafeBytes { flh in
                if let id = record.id {
                    id.withUnsafeBytes { builder.append(firstLevelHash: flh, advertisingID: $0, optedOutSinceSeconds: record.seconds) }
                } else {
                    builder.append(firstLevelHash: flh, advertisingID: nil, optedOutSinceSeconds: record.seconds)
                }
            }
        }
        return builder.build()
    }

    static func expectAnswers(_ index: OptOutIndex, _ model: Model, misses: Int = 200, seed: UInt64 = 99) {
        for (flh, seconds) in model.byHash { #expect(index.optedOutSince(firstLevelHash: flh) == seconds) }
        for (id, seconds) in model.byID { #expect(index.optedOutSince(advertisingID: id) == seconds) }
        #expect(index.count == model.byHash.count)
        var bytes = Bytes(state: seed)
        for _ in 0..<misses {
            #expect(index.optedOutSince(firstLevelHash: bytes.next(32)) == nil)
            #expect(index.optedOutSince(advertisingID: bytes.next(32)) == nil)
            #expect(index.optedOutSince(advertisingID: bytes.next(33)) == nil)
        }
    }

    @Test(arguments: [0, 1, 5, 37, 2_000])
    func builtIndexAnswersLikeTheModel(count: Int) {
        let records = Self.records(count, seed: UInt64(count))
        var model = Model()
        for record in records { model.add(record.flh, record.id, record.seconds) }
        Self.expectAnswers(Self.built(records), model)
    }

    @Test func insertedAndBuiltIndexesAgree() {
        let records = Self.records(3_000, seed: 7)
        var inserted = OptOutIndex()
        var model = Model()
        for record in records {
            inserted.insert(firstLevelHash: record.flh, advertisingID: record.id, optedOutSinceSeconds: record.seconds)
            model.add(record.flh, record.id, record.seconds)
        }
        Self.expectAnswers(inserted, model)
    }

    @Test func laterDuplicatesKeepTheEarliestTimeOnBothSides() {
        let flh = (0..<32).map { UInt8($0) }
        let advertisingID = [UInt8(0x14)] + (0..<32).map { UInt8(200 - $0) }
        let unprefixed = Array(advertisingID.dropFirst())
        var index = OptOutIndex()
        index.insert(firstLevelHash: flh, advertisingID: advertisingID, optedOutSinceSeconds: 500)
        index.insert(firstLevelHash: flh, advertisingID: advertisingID, optedOutSinceSeconds: 900)
        index.insert(firstLevelHash: flh, advertisingID: advertisingID, optedOutSinceSeconds: 600)
        #expect(index.optedOutSince(firstLevelHash: flh) == 500)
        #expect(index.optedOutSince(advertisingID: advertisingID) == 500)
        // The same 32 bytes without the prefix byte, or with another one, are other ids.
        #expect(index.optedOutSince(advertisingID: unprefixed) == nil)
        #expect(index.optedOutSince(advertisingID: [0x15] + unprefixed) == nil)
        #expect(index.count == 1)

        var other = OptOutIndex()
        other.insert(firstLevelHash: flh, advertisingID: unprefixed, optedOutSinceSeconds: 100)
        index.merge(other)
        #expect(index.optedOutSince(firstLevelHash: flh) == 100)
        #expect(index.optedOutSince(advertisingID: advertisingID) == 500)
        #expect(index.optedOutSince(advertisingID: unprefixed) == 100)
        #expect(index.count == 1, "one hash, recorded three times")
    }

    @Test func keysOfTheWrongLengthAreSkipped() {
        var index = OptOutIndex()
        let id = [UInt8](repeating: 9, count: 32)
        index.insert(firstLevelHash: [1, 2, 3], advertisingID: id, optedOutSinceSeconds: 4)
        index.insert(firstLevelHash: [UInt8](repeating: 1, count: 31), optedOutSinceSeconds: 1)
        #expect(index.count == 0)
        #expect(index.optedOutSince(advertisingID: id) == 4, "the id of a record whose hash is malformed still counts")
        #expect(index.optedOutSince(firstLevelHash: [1, 2, 3]) == nil)
        #expect(index.optedOutSince(firstLevelHash: [UInt8](repeating: 1, count: 31)) == nil)
        #expect(index.optedOutSince(advertisingID: [UInt8](repeating: 9, count: 34)) == nil)
        index.merge(OptOutIndex())
        #expect(index.optedOutSince(advertisingID: id) == 4, "and it survives being folded into a table")
        #expect(index.optedOutSince(firstLevelHash: [UInt8](repeating: 0, count: 32)) == nil, "no zero hash stands in for the missing one")
    }

    /// Inserting past the fold size builds new tables; every answer stays the model's.
    @Test func growthAcrossSeveralFoldsKeepsEveryRecord() {
        let records = Self.records(140_000, seed: 3)
        var index = OptOutIndex()
        var model = Model()
        for (position, record) in records.enumerated() {
            index.insert(firstLevelHash: record.flh, advertisingID: record.id, optedOutSinceSeconds: record.seconds)
            model.add(record.flh, record.id, record.seconds)
            if position == 70_000 { #expect(index.tableBytes > 0, "the first fold has built a table") }
        }
        #expect(index.recordCount == records.count)
        Self.expectAnswers(index, model, misses: 50)
    }

    /// The flat table's own arrays, per record that carries both a hash and an id.
    @Test func aRecordTakesAtMostEightyBytes() {
        var bytes = Bytes(state: 11)
        for count in [1_000, 30_000, 70_000] {
            let records = (0..<count).map { _ in (flh: bytes.next(32), id: Optional(bytes.next(33)), seconds: Int64(1)) }
            let index = Self.built(records)
            #expect(index.recordCount == count)
            #expect(index.tableBytes <= 80 * count, "\(index.tableBytes) bytes for \(count) records")
        }
    }
}
