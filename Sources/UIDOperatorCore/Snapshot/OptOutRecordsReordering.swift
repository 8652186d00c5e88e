import Dispatch
import Foundation
import Synchronization

/// Reordering opt-out records where they lie: the three parallel arrays move together, and
/// nothing as large as the records is allocated beside them (ten million records fill 740 MB;
/// a sorted copy would double that at a node's start).
extension OptOutRecords {
    /// Moves every record into its group, each record swapped straight into a place of its
    /// group (American flag sort). `starts` has one entry per group and a last one equal to
    /// `count`; group `g` ends up in `starts[g]..<starts[g + 1]`. `group` must give each record
    /// a group below `starts.count - 1`, and `starts` must count those groups exactly; a record
    /// whose group is out of range or full (a miscount) is left where it is rather than trusted.
    mutating func placeInGroups(starts: [Int], group: @Sendable (FirstLevelHashSlot, UInt16) -> Int) {
        _ = placeInGroups(starts: starts, sortingGroupsBelow: 0, group: group)
    }

    /// `placeInGroups`, then the first `sorted` groups each sorted by first-level hash. Returns
    /// the distinct hashes in those sorted groups (a repeated hash sits in one group).
    ///
    /// Many groups are placed in two rounds: first into at most 256 runs of consecutive groups
    /// (few enough destinations that each stays in cache), then each run, a few megabytes,
    /// into its groups. One round over 100,000 buckets misses the cache on nearly every move.
    /// The runs are independent, so the second round and the sorts run on every core: each run
    /// is copied into a worker's own arrays, finished there (in cache), and copied back.
    /// The first round runs on every core too (`placeInParallel`) when its order cannot show:
    /// every group left unsorted holds at most one record, and sorted groups are in a total
    /// order of the records' contents, so the result is the one the serial round gives.
    ///
    /// `workerCopyMinimum`, `parallelMinimum` and `workerCount` are for tests, which reach the
    /// parallel paths with few records.
    mutating func placeInGroups(
        starts: [Int], sortingGroupsBelow sorted: Int, workerCopyMinimum: Int = Self.workerCopyMinimum,
        parallelMinimum: Int = Self.parallelMinimum, workerCount: Int = Self.workerCount,
        group: @Sendable (FirstLevelHashSlot, UInt16) -> Int
    ) -> Int {
        let groups = starts.count - 1
        guard groups > 0, starts[0] == 0, starts[groups] <= count else { return 0 }
        var bits = 0
        while groups >> bits > Self.groupsPerRound { bits += 1 }
        let fineBits = bits
        let runs = (groups - 1) >> fineBits + 1
        let workers = count < parallelMinimum ? 1 : min(max(workerCount, 1), runs)
        // The first round (with few groups, each run is one group and this round is all).
        let runStarts = (0..<runs).map { starts[$0 << fineBits] } + [starts[groups]]
        let orderHidden = (min(max(sorted, 0), groups)..<groups).allSatisfy { starts[$0 + 1] - starts[$0] <= 1 }
        if workers > 1, orderHidden {
            placeInParallel(bounds: runStarts, workers: workers) { slot, kind in group(slot, kind) >> fineBits }
        } else {
            place(bounds: runStarts) { slot, kind in group(slot, kind) >> fineBits }
        }
        // The groups of run `run`.
        @Sendable func groupRange(_ run: Int) -> Range<Int> {
            let first = run << fineBits
            return first..<min(first + (1 << fineBits), groups)
        }
        guard workers > 1 else {
            var distinct = 0
            for run in 0..<runs {
                distinct += finishRun(starts: starts, groups: groupRange(run), offset: 0, sorted: sorted, group: group)
            }
            return distinct
        }
        // Runs past this size (only skewed or crafted keys make one) are finished in place
        // afterwards, so that a worker's copy stays small whatever the input.
        let copyLimit = max(4 * (starts[groups] / runs), workerCopyMinimum)
        @Sendable func runLength(_ run: Int) -> Int {
            let range = groupRange(run)
            return starts[range.upperBound] - starts[range.lowerBound]
        }
        let distinctCopied = Mutex(0)
        withArraysTakenOut { slots, advertisingIDs, kinds in
            slots.withUnsafeMutableBufferPointer { slotBuffer in
                advertisingIDs.withUnsafeMutableBufferPointer { idBuffer in
                    kinds.withUnsafeMutableBufferPointer { kindBuffer in
                        let shared = OptOutRecordBuffers(slots: slotBuffer, advertisingIDs: idBuffer, kinds: kindBuffer)
                        DispatchQueue.concurrentPerform(iterations: workers) { worker in
                            var local = OptOutRecords()
                            var distinct = 0
                            for run in stride(from: worker, to: runs, by: workers) where runLength(run) <= copyLimit {
                                let range = groupRange(run)
                                let lower = starts[range.lowerBound], upper = starts[range.upperBound]
                                guard shared.copy(lower..<upper, into: &local) else { continue }
                                distinct += local.finishRun(starts: starts, groups: range, offset: lower, sorted: sorted, group: group)
                                shared.copyBack(local, to: lower)
                            }
                            distinctCopied.withLock { $0 += distinct }
                        }
                    }
                }
            }
        }
        var distinct = distinctCopied.withLock { $0 }
        for run in 0..<runs where runLength(run) > copyLimit {
            distinct += finishRun(starts: starts, groups: groupRange(run), offset: 0, sorted: sorted, group: group)
        }
        return distinct
    }

    /// The second round for one run of groups: its records (at `starts[g] - offset`) into their
    /// groups, then the groups below `sorted` sorted; returns their distinct hashes.
    private mutating func finishRun(
        starts: [Int], groups: Range<Int>, offset: Int, sorted: Int, group: (FirstLevelHashSlot, UInt16) -> Int
    ) -> Int {
        let first = groups.lowerBound
        if groups.count > 1 {
            place(bounds: starts[first...groups.upperBound].map { $0 - offset }) { slot, kind in group(slot, kind) - first }
        }
        var distinct = 0
        for bucket in groups where bucket < sorted {
            let range = (starts[bucket] - offset)..<(starts[bucket + 1] - offset)
            sortByFirstLevelHash(range)
            guard range.lowerBound >= 0, range.upperBound <= count else { continue }
            for position in range where position == range.lowerBound || slots[position - 1].key != slots[position].key {
                distinct += 1
            }
        }
        return distinct
    }

    /// `place` on several cores, in place. Each group's range is cut into one stripe per worker;
    /// each worker moves the records found in its stripes into its stripes of their groups, so
    /// workers never touch the same record. A worker's stripe of a group fills up first with the
    /// group's records, and the records it holds that belong to a group whose stripe is already
    /// full (the workers' shares of a group rarely match their stripes exactly) are kept at its
    /// end. Those few (about the square root of a stripe's length each) are then swapped into
    /// the free ends of their groups' stripes on the calling thread.
    /// `bounds` and `group` as for `place`; a record whose group is out of range stays misplaced.
    private mutating func placeInParallel(bounds: [Int], workers: Int, group: @Sendable (FirstLevelHashSlot, UInt16) -> Int) {
        let groups = bounds.count - 1
        guard groups > 0, workers > 0, bounds[0] >= 0, bounds[groups] <= count,
              zip(bounds, bounds.dropFirst()).allSatisfy({ $0 <= $1 }) else { return }
        // Stripe `worker` of group `g`: from `stripeStart(g, worker)` to `stripeStart(g, worker + 1)`.
        @Sendable func stripeStart(_ target: Int, _ worker: Int) -> Int {
            bounds[target] + (bounds[target + 1] - bounds[target]) * worker / workers
        }
        // Where each stripe's misplaced records begin, at `group * workers + worker` (each worker writes its own).
        var misplacedStarts = [Int](repeating: 0, count: groups * workers)
        withArraysTakenOut { slots, advertisingIDs, kinds in
            slots.withUnsafeMutableBufferPointer { slotBuffer in
                advertisingIDs.withUnsafeMutableBufferPointer { idBuffer in
                    kinds.withUnsafeMutableBufferPointer { kindBuffer in
                        misplacedStarts.withUnsafeMutableBufferPointer { startsBuffer in
                            let shared = OptOutRecordBuffers(slots: slotBuffer, advertisingIDs: idBuffer, kinds: kindBuffer)
                            let misplaced = SharedPositions(buffer: startsBuffer)
                            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                                // Stripe g: placed records up to next[g], unexamined up to tail[g], misplaced to its end.
                                var next = (0..<groups).map { stripeStart($0, worker) }
                                var tail = (0..<groups).map { stripeStart($0, worker + 1) }
                                let ends = tail
                                for current in 0..<groups {
                                    while next[current] < tail[current] {
                                        let position = next[current]
                                        guard let record = shared.record(at: position) else { break }
                                        let target = group(record.slot, record.kind)
                                        if target == current {
                                            next[current] += 1
                                        } else if target >= 0, target < groups, next[target] < ends[target] {
                                            // Into the target's stripe: its next unexamined record, or (when none is
                                            // left) its first misplaced one, comes here to be looked at.
                                            if next[target] == tail[target] { tail[target] += 1 }
                                            shared.swapAt(position, next[target])
                                            next[target] += 1
                                        } else {
                                            tail[current] -= 1
                                            shared.swapAt(position, tail[current])
                                        }
                                    }
                                }
                                for target in 0..<groups { misplaced.write(next[target], at: target * workers + worker) }
                            }
                        }
                    }
                }
            }
        }
        // Each group's free places: the misplaced ends of its stripes, filled in order.
        var cursors = (0..<groups).map { (worker: 0, position: misplacedStarts[$0 * workers]) }
        func nextFree(_ target: Int) -> Int? {
            while cursors[target].worker < workers {
                let stripeEnd = stripeStart(target, cursors[target].worker + 1)
                if cursors[target].position < stripeEnd { return cursors[target].position }
                cursors[target].worker += 1
                if cursors[target].worker < workers { cursors[target].position = misplacedStarts[target * workers + cursors[target].worker] }
            }
            return nil
        }
        withArraysTakenOut { slots, advertisingIDs, kinds in
            for current in 0..<groups {
                while let position = nextFree(current) {
                    let target = group(slots[position], kinds[position])
                    // The record here goes to the next free place of its group, which brings another one here.
                    if target != current, target >= 0, target < groups, let destination = nextFree(target) {
                        slots.swapAt(position, destination)
                        advertisingIDs.swapAt(position, destination)
                        kinds.swapAt(position, destination)
                        cursors[target].position += 1
                    } else {
                        cursors[current].position += 1
                    }
                }
            }
        }
    }

    /// Records sorted below this count stay on the calling thread.
    static let parallelMinimum = 1 << 14
    /// Runs up to this many records are always copied to a worker (a few megabytes).
    static let workerCopyMinimum = 1 << 16
    /// Threads finishing runs: the cores this process may use, at most 8.
    static let workerCount = min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 8)

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

    /// Records with the same hash are ordered by time, advertising id and kind, so that a sorted
    /// group's order depends on its records only, never on the order they arrived in.
    @inline(__always)
    static func precedes(
        _ slot: FirstLevelHashSlot, _ advertisingID: FirstLevelHashKey, _ kind: UInt16,
        _ other: FirstLevelHashSlot, _ otherID: FirstLevelHashKey, _ otherKind: UInt16
    ) -> Bool {
        if slot.key != other.key { return slot.key < other.key }
        if slot.seconds != other.seconds { return slot.seconds < other.seconds }
        if advertisingID != otherID { return advertisingID < otherID }
        return kind < otherKind
    }

    /// Sorts the records in `range` by first-level hash (then `precedes`), in place.
    mutating func sortByFirstLevelHash(_ range: Range<Int>) {
        guard range.lowerBound >= 0, range.upperBound <= count, range.count > 1 else { return }
        withArraysTakenOut { slots, advertisingIDs, kinds in
            if range.count <= Self.insertionSortLimit {
                for position in range.dropFirst() {
                    let slot = slots[position], advertisingID = advertisingIDs[position], kind = kinds[position]
                    var hole = position
                    while hole > range.lowerBound,
                          Self.precedes(slot, advertisingID, kind, slots[hole - 1], advertisingIDs[hole - 1], kinds[hole - 1]) {
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
            func before(_ left: Int, _ right: Int) -> Bool {
                Self.precedes(
                    slots[base + left], advertisingIDs[base + left], kinds[base + left],
                    slots[base + right], advertisingIDs[base + right], kinds[base + right]
                )
            }
            func siftDown(_ start: Int, _ end: Int) {
                var root = start
                while true {
                    var largest = root
                    let left = 2 * root + 1, right = left + 1
                    if left < end, before(largest, left) { largest = left }
                    if right < end, before(largest, right) { largest = right }
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

/// What the workers of `placeInGroups` do with the record arrays: each reads and writes only its
/// own runs' ranges.
extension OptOutRecordBuffers {
    /// `local` becomes a copy of the records in `range` (false, and nothing copied, when the
    /// range lies outside the arrays).
    func copy(_ range: Range<Int>, into local: inout OptOutRecords) -> Bool {
        guard holds(range) else { return false }
        local.slots.removeAll(keepingCapacity: true)
        local.advertisingIDs.removeAll(keepingCapacity: true)
        local.kinds.removeAll(keepingCapacity: true)
        local.slots.append(contentsOf: UnsafeMutableBufferPointer(rebasing: slots[range]))
        local.advertisingIDs.append(contentsOf: UnsafeMutableBufferPointer(rebasing: advertisingIDs[range]))
        local.kinds.append(contentsOf: UnsafeMutableBufferPointer(rebasing: kinds[range]))
        return true
    }

    /// The record at `position`, nil outside the arrays.
    func record(at position: Int) -> (slot: FirstLevelHashSlot, kind: UInt16)? {
        guard holds(position..<(position + 1)) else { return nil }
        return (slots[position], kinds[position])
    }

    /// Swaps two records; nothing when either lies outside the arrays.
    func swapAt(_ first: Int, _ second: Int) {
        guard holds(first..<(first + 1)), holds(second..<(second + 1)) else { return }
        slots.swapAt(first, second)
        advertisingIDs.swapAt(first, second)
        kinds.swapAt(first, second)
    }

    /// Writes `local` back from `start` on, only when all of it fits there.
    func copyBack(_ local: OptOutRecords, to start: Int) {
        let length = local.slots.count
        guard local.advertisingIDs.count == length, local.kinds.count == length, holds(start..<(start + length)) else { return }
        let range = start..<(start + length)
        _ = UnsafeMutableBufferPointer(rebasing: slots[range]).update(fromContentsOf: local.slots)
        _ = UnsafeMutableBufferPointer(rebasing: advertisingIDs[range]).update(fromContentsOf: local.advertisingIDs)
        _ = UnsafeMutableBufferPointer(rebasing: kinds[range]).update(fromContentsOf: local.kinds)
    }
}

/// Positions written by the workers of `placeInParallel`, each at its own indices; an index
/// outside the buffer is ignored.
private struct SharedPositions: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Int>

    func write(_ value: Int, at index: Int) {
        guard index >= 0, index < buffer.count else { return }
        buffer[index] = value
    }
}
