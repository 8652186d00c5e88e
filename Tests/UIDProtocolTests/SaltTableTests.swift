import Testing
@testable import UIDProtocol

@Suite struct SaltTableTests {
    func replaced(_ table: inout SaltTable, _ position: Int, _ entry: SaltTable.Entry) -> Bool {
        table.replace(at: position, with: entry)
    }

    /// A distinct 44-byte salt per seed.
    func salt(_ seed: Int) -> [UInt8] {
        let digits = Array(String(seed).utf8)
        return digits + [UInt8](repeating: UInt8(ascii: "x"), count: 43 - digits.count) + [UInt8(ascii: "=")]
    }

    @Test func replacingBucketsAsDailyRunsDoKeepsThePoolFromGrowing() {
        var table = SaltTable(firstLevelSalt: [1], idPrefix: "b", idSecret: "s")
        for position in 0..<20 {
            table.append(SaltTable.Entry(id: Int64(position), lastUpdatedMillis: 1, refreshFromMillis: 2, currentSalt: salt(position)))
        }
        var expected = (0..<20).map { table[$0] }
        var seed = 100
        var sizes: [Int] = []
        for run in 0..<12 {
            // A rotation: the current salt becomes the previous one; a fresh salt is current.
            for position in [run % 20, (run * 7 + 3) % 20] {
                var entry = expected[position]
                entry.previousSalt = entry.currentSalt
                entry.currentSalt = salt(seed)
                entry.lastUpdatedMillis = Int64(run + 10)
                seed += 1
                expected[position] = entry
                #expect(replaced(&table, position, entry))
            }
            // A reschedule, and a previous salt dropped after 90 days.
            expected[5].refreshFromMillis += 1
            #expect(replaced(&table, 5, expected[5]))
            expected[9].previousSalt = nil
            #expect(replaced(&table, 9, expected[9]))
            // Folded as `StoreSync` folds a large overlay: the slots are reused there.
            table = table.foldingChanges()
            sizes.append(table.saltPoolBytes)
        }
        #expect((0..<20).allSatisfy { table[$0] == expected[$0] })
        // A bucket grows once, when it first holds two salts; after that slots, freed ones included, are reused.
        #expect((sizes.last ?? .max) <= 40 * 44, "pool \(sizes)")
        // A dropped previous salt frees its slot for the next bucket that needs one.
        let before = table.saltPoolBytes
        expected[0].previousSalt = nil
        #expect(replaced(&table, 0, expected[0]))
        table = table.foldingChanges()
        expected[16].previousSalt = expected[16].currentSalt
        expected[16].currentSalt = salt(999)
        #expect(replaced(&table, 16, expected[16]))
        table = table.foldingChanges()
        #expect(table.saltPoolBytes == before)
        #expect(table[0] == expected[0] && table[16] == expected[16])

        let material = SaltKeyMaterial(id: 7, key: Array("k".utf8), salt: Array("s".utf8))
        let keyed = SaltTable.Entry(id: 3, lastUpdatedMillis: 4, refreshFromMillis: 5, currentSalt: nil, currentKey: material)
        #expect(replaced(&table, 3, keyed))
        #expect(table[3] == keyed)
        #expect(!replaced(&table, 20, keyed) && !replaced(&table, -1, keyed), "outside the table")
    }
}
