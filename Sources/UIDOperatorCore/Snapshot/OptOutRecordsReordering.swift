/// Reordering opt-out records where they lie: the three parallel arrays move together, and
/// nothing as large as the records is allocated beside them (ten million records fill 740 MB;
/// a sorted copy would double that at a node's start).
extension OptOutRecords {
    /// Moves every record into its group, each record swapped straight into a place of its
    /// group (American flag sort). `starts` has one entry per group and a last one equal to
    /// `count`; group `g` ends up in `starts[g]..<starts[g + 1]`. `group` must give each record
    /// a group below `starts.count - 1`, and `starts` must count those groups exactly; a record
    /// whose group is out of range or full (a miscount) is left where it is rather than trusted.
    ///
    /// Many groups are placed in two rounds: first into at most 256 runs of consecutive groups
    /// (few enough destinations that each stays in cache), then each run, a few megabytes,
    /// into its groups. One round over 100,000 buckets misses the cache on nearly every move.
    mutating func placeInGroups(starts: [Int], group: (FirstLevelHashSlot, UInt16) -> Int) {
        let groups = starts.count - 1
        guard groups > 0, starts[groups] <= count else { return }
        var fineBits = 0
        while groups >> fineBits > Self.groupsPerRound { fineBits += 1 }
        guard fineBits > 0 else {
            place(bounds: starts, group: group)
            return
        }
        let runs = (groups - 1) >> fineBits + 1
        let runStarts = (0..<runs).map { starts[$0 << fineBits] } + [starts[groups]]
        place(bounds: runStarts) { slot, kind in group(slot, kind) >> fineBits }
        for run in 0..<runs {
            let first = run << fineBits
            let bounds = Array(starts[first...min(first + (1 << fineBits), groups)])
            place(bounds: bounds) { slot, kind in group(slot, kind) - first }
        }
    }

    /// Destinations in one round of `placeInGroups`.
    static let groupsPerRound = 256

    /// One round: `bounds` are absolute positions, `group` numbers from zero.
    private mutating func place(bounds: [Int], group: (FirstLevelHashSlot, UInt16) -> Int) {
        let groups = bounds.count - 1
        guard groups > 0, bounds[0] >= 0, bounds[groups] <= count else { return }
        withArraysTakenOut { slots, advertisingIDs, kinds in
            var next = Array(bounds.dropLast())
            for current in 0..<groups {
                let end = bounds[current + 1]
                // The record at `next[current]` either belongs here (keep it) or is swapped to the
                // next free place of its own group, which brings another record here to look at.
                while next[current] < end {
                    let position = next[current]
                    let target = group(slots[position], kinds[position])
                    guard target > current, target < groups, next[target] < bounds[target + 1] else {
                        next[current] += 1
                        continue
                    }
                    let destination = next[target]
                    next[target] += 1
                    slots.swapAt(position, destination)
                    advertisingIDs.swapAt(position, destination)
                    kinds.swapAt(position, destination)
                }
            }
        }
    }

    /// Runs `body` on the three arrays taken out of `self`, so each is referenced once while it is
    /// written (no copy of millions of records on the first write), and puts them back.
    private mutating func withArraysTakenOut(
        _ body: (inout [FirstLevelHashSlot], inout [FirstLevelHashKey], inout [UInt16]) -> Void
    ) {
        var slots: [FirstLevelHashSlot] = [], advertisingIDs: [FirstLevelHashKey] = [], kinds: [UInt16] = []
        swap(&slots, &self.slots)
        swap(&advertisingIDs, &self.advertisingIDs)
        swap(&kinds, &self.kinds)
        defer {
            swap(&slots, &self.slots)
            swap(&advertisingIDs, &self.advertisingIDs)
            swap(&kinds, &self.kinds)
        }
        body(&slots, &advertisingIDs, &kinds)
    }

    /// Buckets at most this long are insertion-sorted (they average 32–64 records); longer ones,
    /// which only crafted or repeated hashes make, are heap-sorted: bounded time, no memory.
    static let insertionSortLimit = 128

    /// Sorts the records in `range` by first-level hash, in place.
    mutating func sortByFirstLevelHash(_ range: Range<Int>) {
        guard range.lowerBound >= 0, range.upperBound <= count, range.count > 1 else { return }
        withArraysTakenOut { slots, advertisingIDs, kinds in
            if range.count <= Self.insertionSortLimit {
                for position in range.dropFirst() {
                    let slot = slots[position], advertisingID = advertisingIDs[position], kind = kinds[position]
                    var hole = position
                    while hole > range.lowerBound, slot.key < slots[hole - 1].key {
                        slots[hole] = slots[hole - 1]
                        advertisingIDs[hole] = advertisingIDs[hole - 1]
                        kinds[hole] = kinds[hole - 1]
                        hole -= 1
                    }
                    slots[hole] = slot
                    advertisingIDs[hole] = advertisingID
                    kinds[hole] = kind
                }
                return
            }
            let base = range.lowerBound
            func swapRecords(_ left: Int, _ right: Int) {
                slots.swapAt(base + left, base + right)
                advertisingIDs.swapAt(base + left, base + right)
                kinds.swapAt(base + left, base + right)
            }
            func siftDown(_ start: Int, _ end: Int) {
                var root = start
                while true {
                    var largest = root
                    let left = 2 * root + 1, right = left + 1
                    if left < end, slots[base + largest].key < slots[base + left].key { largest = left }
                    if right < end, slots[base + largest].key < slots[base + right].key { largest = right }
                    guard largest != root else { return }
                    swapRecords(root, largest)
                    root = largest
                }
            }
            let length = range.count
            for start in stride(from: length / 2 - 1, through: 0, by: -1) { siftDown(start, length) }
            for end in stride(from: length - 1, to: 0, by: -1) {
                swapRecords(0, end)
                siftDown(0, end)
            }
        }
    }
}
