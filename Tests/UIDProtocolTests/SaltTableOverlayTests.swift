import Testing
@testable import UIDProtocol

/// `SaltTable.replace` keeps changed buckets in an overlay and `foldingChanges` writes them into the
/// flat arrays: either way the table must read exactly as one built whole from the same buckets.
@Suite struct SaltTableOverlayTests {
    /// SplitMix64, seeded, so that a failing case can be replayed.
    struct SeededRandom: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let day: Int64 = 86_400_000
    static let start: Int64 = 1_750_000_000_000

    func randomSalt(_ random: inout SeededRandom) -> [UInt8] {
        // Mostly the usual 44 bytes, sometimes another length, so slots of several lengths are reused.
        let length = random.next() % 4 == 0 ? 24 + Int(random.next() % 40) : 44
        return (0..<length).map { _ in UInt8(truncatingIfNeeded: 48 + random.next() % 64) }
    }

    func randomMaterial(_ random: inout SeededRandom) -> SaltKeyMaterial {
        SaltKeyMaterial(id: Int32(random.next() % 1000), key: (0..<32).map { _ in UInt8(truncatingIfNeeded: random.next()) },
                        salt: (0..<32).map { _ in UInt8(truncatingIfNeeded: random.next()) })
    }

    func initialEntries(count: Int, _ random: inout SeededRandom) -> [SaltTable.Entry] {
        (0..<count).map { position in
            let keyed = position % 17 == 0
            return SaltTable.Entry(
                id: Int64(position) + 1_000, lastUpdatedMillis: Self.start - Int64(position % 30) * Self.day,
                refreshFromMillis: Self.start + Int64(30 - position % 30) * Self.day,
                currentSalt: keyed ? nil : randomSalt(&random), previousSalt: position % 5 == 0 ? randomSalt(&random) : nil,
                currentKey: keyed ? randomMaterial(&random) : nil
            )
        }
    }

    /// One change a salt run could make to `entry`: a rotation, a reschedule, a dropped previous
    /// salt, or a move to v4 key material.
    func change(_ entry: SaltTable.Entry, at now: Int64, _ random: inout SeededRandom) -> SaltTable.Entry {
        var next = entry
        switch random.next() % 4 {
        case 0:
            next.previousSalt = entry.currentSalt
            next.previousKey = entry.currentKey
            next.currentSalt = randomSalt(&random)
            next.currentKey = nil
            next.lastUpdatedMillis = now
            next.refreshFromMillis = now + 30 * Self.day
        case 1:
            next.refreshFromMillis += 30 * Self.day
        case 2:
            next.previousSalt = nil
            next.previousKey = nil
        default:
            next.previousKey = entry.currentKey
            next.previousSalt = entry.currentSalt
            next.currentSalt = nil
            next.currentKey = randomMaterial(&random)
            next.lastUpdatedMillis = now
        }
        return next
    }

    func built(_ entries: [SaltTable.Entry]) -> SaltTable {
        var table = SaltTable(firstLevelSalt: [9, 9], idPrefix: "b", idSecret: "secret", expectedCount: entries.count)
        for entry in entries { table.append(entry) }
        return table
    }

    func expectReads(_ table: SaltTable, as expected: [SaltTable.Entry], _ moment: String) {
        #expect(table.count == expected.count, "\(moment): count")
        let wrong = expected.indices.filter { position in
            table[position] != expected[position] || table.lastUpdatedMillis(at: position) != expected[position].lastUpdatedMillis
                || table.bucketID(at: position) != expected[position].id
        }
        #expect(wrong.isEmpty, "\(moment): \(wrong.count) buckets differ, first \(wrong.prefix(5))")
        // The borrowed view (`withBucketSalts`, what identity map reads) holds the same bucket.
        let wrongViews = expected.indices.filter { position in
            let entry = expected[position]
            return table.withBucketSalts(at: position) { bucket in
                bucket.id != entry.id || bucket.lastUpdatedMillis != entry.lastUpdatedMillis
                    || bucket.refreshFromMillis != entry.refreshFromMillis
                    || bucket.currentSalt.map { Array($0) } != entry.currentSalt || bucket.previousSalt.map { Array($0) } != entry.previousSalt
                    || bucket.currentKey != entry.currentKey || bucket.previousKey != entry.previousKey
            }
        }
        #expect(wrongViews.isEmpty, "\(moment): \(wrongViews.count) borrowed buckets differ, first \(wrongViews.prefix(5))")
    }

    /// The raw UIDs computed from a borrowed bucket are the entry's, for salted and v4 buckets, in
    /// the overlay and in the flat arrays, within and past the 90 days of a previous UID.
    @Test func borrowedBucketsGiveTheEntrysRawUIDs() {
        var random = SeededRandom(state: 11)
        var expected = initialEntries(count: 400, &random)
        var table = built(expected)
        let now = Self.start + 3 * Self.day
        for _ in 0..<120 {
            let position = Int(random.next() % UInt64(expected.count))
            expected[position] = change(expected[position], at: now, &random)
            table.replace(at: position, with: expected[position])
        }
        let options = RawUIDOptions(scope: .uid2, identityV3: true, environment: .prod)
        var compared = (salted: 0, keyed: 0, previous: 0)
        for position in expected.indices {
            let flh = (0..<32).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let entry = table[position]
            for asOf in [now, now + 100 * Self.day] {
                let (current, previous) = table.withBucketSalts(at: position) { bucket in
                    (bucket.currentRawUID(firstLevelHash: InlineBytes(flh)!, type: .email, options: options)?.bytes,
                     bucket.previousRawUID(firstLevelHash: InlineBytes(flh)!, type: .phone, options: options, asOfMillis: asOf)?.bytes)
                }
                #expect(current == entry.currentRawUID(firstLevelHash: flh, type: .email, options: options), "position \(position)")
                let expectedPrevious = entry.previousRawUID(firstLevelHash: flh, type: .phone, options: options, asOfMillis: asOf)
                #expect(previous == expectedPrevious, "position \(position) as of \(asOf)")
                if current != nil { entry.currentSalt != nil ? (compared.salted += 1) : (compared.keyed += 1) }
                if expectedPrevious != nil { compared.previous += 1 }
            }
        }
        // The comparison covered every kind of bucket.
        #expect(compared.salted > 0 && compared.keyed > 0 && compared.previous > 0)
    }

    @Test(arguments: [1 as UInt64, 2, 3]) func overlayAndFoldReadAsATableBuiltWhole(seed: UInt64) {
        var random = SeededRandom(state: seed)
        var expected = initialEntries(count: 3_000, &random)
        var table = built(expected)
        let loaded = table
        for run in 1...8 {
            let now = Self.start + Int64(run) * Self.day
            // A run changes random buckets, some of them more than once and some changed in earlier runs.
            for _ in 0..<(50 + Int(random.next() % 200)) {
                let position = Int(random.next() % UInt64(expected.count))
                expected[position] = change(expected[position], at: now, &random)
                let applied = table.replace(at: position, with: expected[position])
                #expect(applied)
            }
            expectReads(table, as: expected, "run \(run), overlay")
            let rebuilt = built(expected)
            expectReads(rebuilt, as: expected, "run \(run), rebuilt")
            if run % 3 == 0 {
                let folded = table.foldingChanges()
                #expect(folded.changedBucketCount == 0)
                expectReads(folded, as: expected, "run \(run), folded")
                expectReads(table, as: expected, "run \(run), the source of a fold")
                table = folded
            }
        }
        #expect(table.changedBucketCount > 0, "the last runs are still in the overlay")
        // The table as loaded is untouched by all of it: snapshots that share its arrays read the old buckets.
        var replay = SeededRandom(state: seed)
        expectReads(loaded, as: initialEntries(count: 3_000, &replay), "the table as loaded")
    }

    @Test func repeatedRotationsOfOneBucketKeepTheLatestAndItsPreviousSalt() throws {
        var random = SeededRandom(state: 7)
        var expected = initialEntries(count: 64, &random)
        var table = built(expected)
        let position = 10
        var salts: [[UInt8]] = [try #require(expected[position].currentSalt)]
        for rotation in 1...6 {
            let now = Self.start + Int64(rotation) * 31 * Self.day
            var entry = expected[position]
            entry.previousSalt = entry.currentSalt
            entry.currentSalt = randomSalt(&random)
            entry.lastUpdatedMillis = now
            entry.refreshFromMillis = now + 30 * Self.day
            salts.append(entry.currentSalt ?? [])
            expected[position] = entry
            let applied = table.replace(at: position, with: entry)
            #expect(applied)
            #expect(table.changedBucketCount == 1, "one bucket, however often it rotates")
            #expect(table[position].currentSalt == salts[rotation] && table[position].previousSalt == salts[rotation - 1])
            if rotation == 3 { table = table.foldingChanges() }
        }
        expectReads(table, as: expected, "overlay")
        let folded = table.foldingChanges()
        expectReads(folded, as: expected, "folded")
        // Rotating one bucket again and again reuses its two slots.
        #expect(folded.saltPoolBytes <= built(expected).saltPoolBytes + 2 * 64)
    }

    @Test func previousUIDsComeFromTheOverlayAndStopAfterNinetyDays() {
        var random = SeededRandom(state: 11)
        var expected = initialEntries(count: 64, &random)
        var table = built(expected)
        let flh = [UInt8](repeating: 3, count: 32)
        let options = RawUIDOptions(scope: .uid2, identityV3: false, environment: .test)
        let position = 20
        let rotatedAt = Self.start + Self.day
        let old = table[position]
        var entry = old
        entry.previousSalt = old.currentSalt
        entry.currentSalt = randomSalt(&random)
        entry.lastUpdatedMillis = rotatedAt
        expected[position] = entry
        table.replace(at: position, with: entry)

        let served = table[position]
        let oldUID = old.currentRawUID(firstLevelHash: flh, type: .email, options: options)
        #expect(oldUID != nil)
        #expect(served.currentRawUID(firstLevelHash: flh, type: .email, options: options) == entry.currentRawUID(firstLevelHash: flh, type: .email, options: options))
        #expect(served.currentRawUID(firstLevelHash: flh, type: .email, options: options) != oldUID)
        #expect(served.previousRawUID(firstLevelHash: flh, type: .email, options: options, asOfMillis: rotatedAt + 89 * Self.day) == oldUID)
        #expect(served.previousRawUID(firstLevelHash: flh, type: .email, options: options, asOfMillis: rotatedAt + 90 * Self.day) == nil)

        // A later run drops the previous salt: the overlay's newer entry wins, before and after a fold.
        entry.previousSalt = nil
        table.replace(at: position, with: entry)
        #expect(table[position].previousRawUID(firstLevelHash: flh, type: .email, options: options, asOfMillis: rotatedAt + Self.day) == nil)
        let folded = table.foldingChanges()
        #expect(folded[position].previousSalt == nil && folded[position].currentSalt == entry.currentSalt)
        // Buckets the runs did not touch keep theirs.
        #expect(folded[5].previousSalt == expected[5].previousSalt && expected[5].previousSalt != nil)
    }

    @Test func identityTellsTheServedTableFromLaterOnes() {
        var random = SeededRandom(state: 5)
        let entries = initialEntries(count: 100, &random)
        var table = built(entries)
        table.replace(at: 1, with: entries[2])
        let copy = table
        #expect(copy.isIdentical(to: table))
        var patched = table
        patched.replace(at: 1, with: entries[1])
        #expect(!patched.isIdentical(to: table), "a replacement since")
        #expect(!table.foldingChanges().isIdentical(to: table), "new arrays")
        #expect(!built(entries).isIdentical(to: built(entries)), "equal is not identical")
        let past = table.replace(at: 100, with: entries[0])
        let before = table.replace(at: -1, with: entries[0])
        #expect(!past && !before, "outside the table")
        #expect(table.isIdentical(to: copy), "a refused replacement changes nothing")
    }
}
