import Testing
@testable import UIDOperatorCore

/// The flat table's in-place build: whatever order records arrive in, the table must hold each
/// of them once, the ones with a hash in key order (the buckets are the key's leading bits, so
/// bucket order and key order agree) and the ones without after them, and answer like a model.
@Suite struct OptOutTableBuildTests {
    typealias Bytes = OptOutIndexTests.Bytes
    typealias Model = OptOutIndexTests.Model
    typealias Record = (flh: [UInt8]?, id: [UInt8]?, seconds: Int64)

    /// Shuffles reproducibly, so that a failure can be replayed.
    struct Seeded: RandomNumberGenerator {
        var bytes: Bytes
        mutating func next() -> UInt64 { bytes.next(8).reduce(0) { $0 << 8 | UInt64($1) } }
    }

    static func table(
        _ records: [Record], capacity: Int? = nil, workerCopyMinimum: Int = OptOutRecords.workerCopyMinimum,
        parallelMinimum: Int = OptOutRecords.parallelMinimum, workerCount: Int = OptOutRecords.workerCount
    ) -> OptOutTable {
        var unsorted = OptOutRecords(capacity: capacity ?? records.count)
        for record in records {
            unsorted.append(
                firstLevelHash: record.flh.flatMap { FirstLevelHashKey($0) },
                advertisingID: record.id.flatMap { AdvertisingIDKey($0) }, seconds: record.seconds
            )
        }
        return OptOutTable(sorting: &unsorted, workerCopyMinimum: workerCopyMinimum, parallelMinimum: parallelMinimum, workerCount: workerCount)
    }

    static func index(_ records: [Record], capacity: Int? = nil) -> OptOutIndex {
        var builder = OptOutIndex.Builder(capacity: capacity ?? records.count)
        for record in records {
            let flh = record.flh ?? [], id = record.id ?? []
            flh.withUnsafeBytes { flhBytes in
                id.withUnsafeBytes { idBytes in
                    builder.append(
                        firstLevelHash: record.flh == nil ? nil : flhBytes, advertisingID: record.id == nil ? nil : idBytes,
                        optedOutSinceSeconds: record.seconds
                    )
                }
            }
        }
        return builder.build()
    }

    /// A record as the table stores it, to compare the table's contents with the input as multisets.
    struct Stored: Hashable {
        let key: FirstLevelHashKey, seconds: Int64, advertisingID: FirstLevelHashKey, kind: UInt16
    }

    static func stored(_ records: OptOutRecords) -> [Stored: Int] {
        var counted: [Stored: Int] = [:]
        for position in 0..<records.count {
            let record = Stored(
                key: records.slots[position].key, seconds: records.slots[position].seconds,
                advertisingID: records.advertisingIDs[position], kind: records.kinds[position]
            )
            counted[record, default: 0] += 1
        }
        return counted
    }

    /// Every record kept once, hashes in key order, hashless records last.
    static func expectWellBuilt(_ table: OptOutTable, from records: [Record]) {
        var input = OptOutRecords()
        for record in records {
            input.append(
                firstLevelHash: record.flh.flatMap { FirstLevelHashKey($0) },
                advertisingID: record.id.flatMap { AdvertisingIDKey($0) }, seconds: record.seconds
            )
        }
        #expect(table.count == input.count)
        #expect(stored(table.records) == stored(input), "the table holds exactly the records it was given")
        let kinds = table.records.kinds, slots = table.records.slots
        let withHash = kinds.prefix(while: { $0 & OptOutRecords.noFirstLevelHash == 0 }).count
        #expect(kinds.dropFirst(withHash).allSatisfy { $0 & OptOutRecords.noFirstLevelHash != 0 }, "records without a hash come last")
        #expect(zip(slots.prefix(withHash), slots.prefix(withHash).dropFirst()).allSatisfy { $0.key <= $1.key }, "hashes in key order")
    }

    static func model(_ records: [Record]) -> Model {
        var model = Model()
        for record in records { model.add(record.flh, record.id, record.seconds) }
        return model
    }

    @Test func anEmptyBuildAnswersNothing() {
        let index = Self.index([])
        #expect(index.count == 0 && index.recordCount == 0)
        var bytes = Bytes(state: 1)
        #expect(index.optedOutSince(firstLevelHash: bytes.next(32)) == nil)
        #expect(index.optedOutSince(advertisingID: bytes.next(32)) == nil)
        let table = Self.table([])
        #expect(table.count == 0 && table.distinctFirstLevelHashes == 0)
    }

    /// The same hash many times over, in many buckets, with its times in every order: the
    /// earliest answers and the hash counts once; exact repeats are kept, not merged.
    @Test func repeatedHashesAnswerTheirEarliestTime() {
        var bytes = Bytes(state: 21)
        let hashes = (0..<500).map { _ in bytes.next(32) }
        var records: [Record] = []
        for round in 0..<6 {
            for (position, flh) in hashes.enumerated() {
                // Times fall, rise and repeat across rounds, differently for each hash.
                let seconds = Int64(1_000 + ((position * 7 + round * 13) % 11) * 10)
                records.append((flh, round.isMultiple(of: 2) ? bytes.next(32) : nil, seconds))
            }
        }
        records.append(contentsOf: records.prefix(50))   // exact repeats
        var generator = Seeded(bytes: Bytes(state: 22))
        records.shuffle(using: &generator)
        let model = Self.model(records)
        Self.expectWellBuilt(Self.table(records), from: records)
        let index = Self.index(records)
        OptOutIndexTests.expectAnswers(index, model)
        #expect(index.count == hashes.count)
        #expect(index.recordCount == records.count)
    }

    /// Thousands of hashes sharing their first eight bytes land in one bucket, far past what
    /// insertion sort takes, and the guess from the next bits is far off: every one is still found.
    @Test(arguments: [200, 3_000])
    func oneHeavyBucketIsSortedAndSearchable(heavy: Int) {
        var bytes = Bytes(state: UInt64(heavy))
        let shared = bytes.next(8)
        var records: [Record] = (0..<2_000).map { _ in (bytes.next(32), bytes.next(32), Int64(5_000)) }
        for position in 0..<heavy {
            // Half with a tail that is mostly zero, so their next bits crowd the bucket's start.
            let tail = position.isMultiple(of: 2) ? [UInt8](repeating: 0, count: 20) + bytes.next(4) : bytes.next(24)
            records.append((shared + tail, position.isMultiple(of: 3) ? nil : bytes.next(33), Int64(9_000 - position)))
            if position.isMultiple(of: 5) { records.append((shared + tail, nil, Int64(100 + position))) }
        }
        var generator = Seeded(bytes: Bytes(state: UInt64(heavy) + 1))
        records.shuffle(using: &generator)
        Self.expectWellBuilt(Self.table(records), from: records)
        OptOutIndexTests.expectAnswers(Self.index(records), Self.model(records))
        let absent = shared + [UInt8](repeating: 0xFF, count: 24)
        #expect(Self.index(records).optedOutSince(firstLevelHash: absent) == nil)
    }

    /// Records with only an advertising id (a malformed or missing hash) sit after every bucket
    /// and are still found by id; no zero hash stands in for theirs.
    @Test func recordsWithoutAHashGoLastAndAreFoundByID() {
        var bytes = Bytes(state: 5)
        var records: [Record] = []
        for position in 0..<3_000 {
            records.append(position % 3 == 0 ? (nil, bytes.next(32 + position % 2), Int64(position)) : (bytes.next(32), bytes.next(32), Int64(position)))
        }
        Self.expectWellBuilt(Self.table(records), from: records)
        let index = Self.index(records)
        OptOutIndexTests.expectAnswers(index, Self.model(records))
        #expect(index.optedOutSince(firstLevelHash: [UInt8](repeating: 0, count: 32)) == nil)
        let onlyIDs = records.filter { $0.flh == nil }
        Self.expectWellBuilt(Self.table(onlyIDs), from: onlyIDs)
        OptOutIndexTests.expectAnswers(Self.index(onlyIDs), Self.model(onlyIDs))
    }

    /// Enough records for the build to finish its runs on several threads, most of them in one
    /// run far past the size a worker copies (lowered here, so that run is finished in place),
    /// the rest spread.
    @Test func aRunTooLargeToCopyIsFinishedInPlace() {
        var bytes = Bytes(state: 77)
        let shared = bytes.next(4)
        var records: [Record] = (0..<6_000).map { _ in (bytes.next(32), bytes.next(32), Int64(7_000)) }
        for position in 0..<14_000 {
            records.append((shared + bytes.next(28), position.isMultiple(of: 4) ? nil : bytes.next(33), Int64(position % 900)))
        }
        records.append(contentsOf: records.suffix(300))   // exact repeats inside the large run
        var generator = Seeded(bytes: Bytes(state: 78))
        records.shuffle(using: &generator)
        #expect(records.count >= OptOutRecords.parallelMinimum)
        let table = Self.table(records, workerCopyMinimum: 2_000)
        Self.expectWellBuilt(table, from: records)
        #expect(table.distinctFirstLevelHashes == Set(records.compactMap(\.flh)).count)
        OptOutIndexTests.expectAnswers(Self.index(records), Self.model(records))
    }

    /// A count taken before the scan can be off (rows skipped as malformed, or added meanwhile):
    /// the build is the same either way.
    /// 300,000 expected records make the builder map its arrays on another thread first.
    @Test(arguments: [0, 10, 5_000, 300_000])
    func aWrongCapacityChangesNothing(capacity: Int) {
        let records = OptOutIndexTests.records(1_000, seed: 17).map { Record(flh: $0.flh, id: $0.id, seconds: $0.seconds) }
        Self.expectWellBuilt(Self.table(records, capacity: capacity), from: records)
        OptOutIndexTests.expectAnswers(Self.index(records, capacity: capacity), Self.model(records))
    }

    /// Random data at sizes around the bucketing steps (one bucket, a few, many).
    @Test(arguments: [1, 2, 63, 64, 65, 4_097, 40_000])
    func randomBuildsAreWellBuilt(count: Int) {
        let records = OptOutIndexTests.records(count, seed: UInt64(count) &+ 1_000).map { Record(flh: $0.flh, id: $0.id, seconds: $0.seconds) }
        let table = Self.table(records)
        Self.expectWellBuilt(table, from: records)
        #expect(table.distinctFirstLevelHashes == Set(records.compactMap(\.flh)).count)
    }

    /// The placement alone: each record lands in its group whatever order they came in, in
    /// one round (few groups) or two (more than `groupsPerRound`, some of them empty).
    @Test(arguments: [7, 3_001])
    func placingInGroupsPutsEveryRecordInItsRange(groups: Int) {
        var bytes = Bytes(state: UInt64(groups))
        var records = OptOutRecords()
        for position in 0..<20_000 {
            // Every third group stays empty.
            var group = (position &* 7_919) % groups
            if group % 3 == 2 { group -= 1 }
            records.append(firstLevelHash: FirstLevelHashKey(bytes.next(32)), advertisingID: bytes.next(1)[0] > 127 ? AdvertisingIDKey(bytes.next(32)) : nil, seconds: Int64(group))
        }
        let before = Self.stored(records)
        var starts = [Int](repeating: 0, count: groups + 1)
        for slot in records.slots { starts[Int(slot.seconds) + 1] += 1 }
        for position in 0..<groups { starts[position + 1] += starts[position] }
        records.placeInGroups(starts: starts) { slot, _ in Int(slot.seconds) }
        #expect(Self.stored(records) == before, "no record lost, repeated or torn from its id")
        for group in 0..<groups where !records.slots[starts[group]..<starts[group + 1]].allSatisfy({ Int($0.seconds) == group }) {
            Issue.record("group \(group) holds records of another")
        }
    }

    /// The same arrays, element for element: what a serial and a parallel build must agree on.
    static func expectSameTable(_ built: OptOutTable, _ reference: OptOutTable, _ label: String) {
        #expect(built.records.slots == reference.records.slots, "\(label): slots")
        #expect(built.records.advertisingIDs == reference.records.advertisingIDs, "\(label): advertising ids")
        #expect(built.records.kinds == reference.records.kinds, "\(label): kinds")
        #expect(built.firstLevelHashStarts == reference.firstLevelHashStarts, "\(label): bucket starts")
        #expect(built.advertisingIDOrder == reference.advertisingIDOrder, "\(label): id order")
        #expect(built.advertisingIDStarts == reference.advertisingIDStarts, "\(label): id bucket starts")
        #expect(built.distinctFirstLevelHashes == reference.distinctFirstLevelHashes, "\(label): distinct hashes")
    }

    /// Builds `records` serially, then with the first placement round (and the rest) forced onto
    /// 2, 3 and 5 workers, from two arrival orders: every build is the serial one's table.
    static func expectParallelBuildsMatchSerial(_ records: [Record], seed: UInt64, workerCopyMinimum: Int = OptOutRecords.workerCopyMinimum) {
        let serial = table(records, parallelMinimum: .max, workerCount: 1)
        expectWellBuilt(serial, from: records)
        var shuffled = records
        var generator = Seeded(bytes: Bytes(state: seed))
        shuffled.shuffle(using: &generator)
        expectSameTable(table(shuffled, parallelMinimum: .max, workerCount: 1), serial, "serial, shuffled")
        for workers in [2, 3, 5] {
            for (name, input) in [("as given", records), ("shuffled", shuffled)] {
                let parallel = table(input, workerCopyMinimum: workerCopyMinimum, parallelMinimum: 0, workerCount: workers)
                expectSameTable(parallel, serial, "\(workers) workers, \(name)")
            }
        }
    }

    /// Random records of every kind with a hash (with or without an id, prefixed ids), sizes from
    /// empty through one bucket to many runs of the first round.
    @Test(arguments: [0, 1, 2, 7, 63, 300, 5_000, 70_000])
    func parallelPlacementBuildsTheSerialTable(count: Int) {
        var bytes = Bytes(state: UInt64(count) &+ 9_100)
        let records: [Record] = (0..<count).map { position in
            (bytes.next(32), position % 3 == 0 ? nil : bytes.next(32 + position % 2), Int64(bytes.next(1)[0]))
        }
        Self.expectParallelBuildsMatchSerial(records, seed: UInt64(count) &+ 9_200)
    }

    /// Skewed keys: most records share their leading bytes (one run of the first round holds
    /// them, the workers' stripes of the others are nearly empty), with repeated hashes whose
    /// times and ids differ, and exact repeats. Their order in the table is still the serial one.
    @Test func parallelPlacementOfSkewedAndRepeatedKeysBuildsTheSerialTable() {
        var bytes = Bytes(state: 4_242)
        let shared = bytes.next(3)
        var records: [Record] = (0..<3_000).map { _ in (bytes.next(32), bytes.next(32), Int64(10)) }
        for position in 0..<20_000 {
            records.append((shared + bytes.next(29), position.isMultiple(of: 4) ? nil : bytes.next(33), Int64(position % 50)))
        }
        let repeated = records.prefix(4_000).map { Record(flh: $0.flh, id: bytes.next(32), seconds: $0.seconds &+ 1) }
        records.append(contentsOf: repeated)
        records.append(contentsOf: records.suffix(500))   // exact repeats
        Self.expectParallelBuildsMatchSerial(records, seed: 4_243, workerCopyMinimum: 2_000)
    }

    /// Records without a hash keep their arrival order's say in the table, so a build that has
    /// more than one of them keeps the first round serial: the same table as before.
    @Test func recordsWithoutAHashKeepTheFirstRoundSerial() {
        var bytes = Bytes(state: 8_080)
        let records: [Record] = (0..<30_000).map { position in
            position % 7 == 0 ? (nil, bytes.next(32), Int64(position)) : (bytes.next(32), bytes.next(32), Int64(position))
        }
        let serial = Self.table(records, parallelMinimum: .max, workerCount: 1)
        Self.expectSameTable(Self.table(records, parallelMinimum: 0, workerCount: 2), serial, "2 workers")
        Self.expectWellBuilt(Self.table(records, parallelMinimum: 0, workerCount: 3), from: records)
        // One record without a hash has no order to lose: the parallel round runs.
        let one = records.filter { $0.flh != nil } + [(nil, bytes.next(32), 5)]
        Self.expectSameTable(Self.table(one, parallelMinimum: 0, workerCount: 2), Self.table(one, parallelMinimum: .max, workerCount: 1), "one without a hash")
    }

    /// The placement alone on several workers: groups of every size, some empty, one holding
    /// half the records, and records arriving sorted in reverse (every worker's stripes hold
    /// records of other workers' groups).
    @Test(arguments: [2, 3, 8])
    func placingInParallelPutsEveryRecordInItsRange(workers: Int) {
        var bytes = Bytes(state: UInt64(workers) &+ 31)
        var records = OptOutRecords()
        let groups = 40
        for position in 0..<12_000 {
            var group = position < 6_000 ? 17 : (groups - 1) - (position % groups)
            if group % 5 == 4 { group -= 1 }
            records.append(firstLevelHash: FirstLevelHashKey(bytes.next(32)), advertisingID: AdvertisingIDKey(bytes.next(32)), seconds: Int64(group))
        }
        let before = Self.stored(records)
        var starts = [Int](repeating: 0, count: groups + 1)
        for slot in records.slots { starts[Int(slot.seconds) + 1] += 1 }
        for position in 0..<groups { starts[position + 1] += starts[position] }
        _ = records.placeInGroups(starts: starts, sortingGroupsBelow: groups, parallelMinimum: 0, workerCount: workers) { slot, _ in Int(slot.seconds) }
        #expect(Self.stored(records) == before, "no record lost, repeated or torn from its id")
        for group in 0..<groups where !records.slots[starts[group]..<starts[group + 1]].allSatisfy({ Int($0.seconds) == group }) {
            Issue.record("group \(group) holds records of another")
        }
    }

    /// A batch lookup hints the slots around each key's search start (`prefetchedSlots`): they
    /// must lie inside the table, include the start, and cover where present keys actually are
    /// nearly always (else the hint misses the line the lookup waits for). Any key, present,
    /// absent or at either end of the key space, must be safe to hint.
    @Test(arguments: [1, 2, 63, 5_000, 50_000])
    func hintedSlotsStayInTheTableAndCoverTheKeys(count: Int) {
        var bytes = Bytes(state: UInt64(count))
        let present = (0..<count).map { _ in bytes.next(32) }
        let table = Self.table(present.map { (flh: $0, id: nil, seconds: 1_700_000_000) })
        let slotCount = table.records.count
        var covered = 0
        for flh in present {
            guard let key = FirstLevelHashKey(flh), let hinted = table.prefetchedSlots(key) else {
                Issue.record("a present key has no slots to hint")
                continue
            }
            #expect(hinted.lowerBound >= 0 && hinted.upperBound <= slotCount && !hinted.isEmpty)
            if hinted.contains(where: { table.records.slots[$0].key == key }) { covered += 1 }
        }
        // Buckets of 32–64 uniform keys put a key within three slots of its guess about four
        // times in five (79–82 % here); the lines hinted around those slots reach a little further.
        #expect(Double(covered) >= 0.75 * Double(count))
        var ends = [[UInt8](repeating: 0, count: 32), [UInt8](repeating: 0xFF, count: 32)]
        for _ in 0..<200 { ends.append(bytes.next(32)) }
        for flh in ends {
            guard let key = FirstLevelHashKey(flh), let hinted = table.prefetchedSlots(key) else { continue }
            #expect(hinted.lowerBound >= 0 && hinted.upperBound <= slotCount && !hinted.isEmpty)
        }
        present.compactMap(FirstLevelHashKey.init).withUnsafeBufferPointer { table.prefetch(firstLevelHashes: $0) }
        ends.compactMap(FirstLevelHashKey.init).withUnsafeBufferPointer { table.prefetch(firstLevelHashes: $0) }
    }
}
