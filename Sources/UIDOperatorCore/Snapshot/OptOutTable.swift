#if canImport(Glibc)
import Glibc
#endif
import CPrefetch
import Dispatch

/// A first-level hash with its opt-out time: the 40 bytes a first-level-hash lookup reads.
struct FirstLevelHashSlot: Sendable, Equatable {
    var key: FirstLevelHashKey
    var seconds: Int64
}

/// Opt-out records as three parallel arrays: what a table is built from and what it holds.
/// A record has a first-level hash, an advertising id, or both (`kinds` says which).
struct OptOutRecords: Sendable {
    /// The first-level hash (zero when absent) and the time.
    var slots: [FirstLevelHashSlot] = []
    /// The advertising id's 32 bytes after any prefix (zero when absent).
    var advertisingIDs: [FirstLevelHashKey] = []
    /// Bits 0–8: the advertising id's prefix byte, `unprefixed` or `noAdvertisingID`; `noFirstLevelHash` on top.
    var kinds: [UInt16] = []

    static let unprefixed: UInt16 = 0x100
    static let noAdvertisingID: UInt16 = 0x1FF
    static let prefixMask: UInt16 = 0x1FF
    static let noFirstLevelHash: UInt16 = 0x200

    /// Room for `capacity` records, so that appending them never grows an array: a table is
    /// sorted where its records were appended (`OptOutTable.init`), so this is its final storage.
    init(capacity: Int = 0) {
        guard capacity > 0 else { return }
        slots = OptOutTable.emptyArray(capacity: capacity, hugePages: true)
        advertisingIDs = OptOutTable.emptyArray(capacity: capacity)
        kinds = OptOutTable.emptyArray(capacity: capacity)
    }

    var count: Int { slots.count }

    /// Asks the kernel to map every page of the arrays' capacity now, on a background thread
    /// (`MADV_POPULATE_WRITE`, which faults pages in without changing what they hold), so that
    /// filling them takes no page faults. Only advice: an older kernel refuses it and the pages
    /// fault as they are written. The arrays must not grow meanwhile; wait on the group first.
    func mapCapacityInBackground() -> DispatchGroup {
        Self.mapInBackground(
            [
                slots.withUnsafeBufferPointer { Self.region($0.baseAddress, slots.capacity) },
                advertisingIDs.withUnsafeBufferPointer { Self.region($0.baseAddress, advertisingIDs.capacity) },
                kinds.withUnsafeBufferPointer { Self.region($0.baseAddress, kinds.capacity) },
            ],
            capacity: min(slots.capacity, advertisingIDs.capacity, kinds.capacity)
        )
    }

    /// `mapCapacityInBackground` for regions given as addresses and strides, `capacity` records long.
    static func mapInBackground(_ regions: [(address: UInt, stride: Int)], capacity: Int) -> DispatchGroup {
        let group = DispatchGroup()
        #if canImport(Glibc)
        DispatchQueue.global(qos: .userInitiated).async(group: group) {
            // In the order the records are appended, a million at a time, so the filling thread
            // finds its pages mapped from the start.
            let step = 1 << 20
            for first in stride(from: 0, to: capacity, by: step) {
                let last = min(first + step, capacity)
                for region in regions {
                    let start = region.address + UInt(first * region.stride)
                    let end = region.address + UInt(last * region.stride)
                    let pageStart = start & ~UInt(4095)
                    guard end > pageStart, let pointer = UnsafeMutableRawPointer(bitPattern: pageStart) else { continue }
                    guard madvise(pointer, Int(end - pageStart), 23 /* MADV_POPULATE_WRITE */) == 0 else { return }
                }
            }
        }
        #endif
        return group
    }

    /// An array's storage as an address (sendable) and its element stride.
    static func region<Value>(_ base: UnsafePointer<Value>?, _ capacity: Int) -> (address: UInt, stride: Int) {
        (UInt(bitPattern: base), base == nil ? 0 : MemoryLayout<Value>.stride)
    }

    mutating func append(firstLevelHash: FirstLevelHashKey?, advertisingID: AdvertisingIDKey?, seconds: Int64) {
        guard firstLevelHash != nil || advertisingID != nil else { return }
        slots.append(FirstLevelHashSlot(key: firstLevelHash ?? .zero, seconds: seconds))
        advertisingIDs.append(advertisingID?.body ?? .zero)
        kinds.append((firstLevelHash == nil ? Self.noFirstLevelHash : 0) | (advertisingID?.prefix ?? Self.noAdvertisingID))
    }

    mutating func append(contentsOf other: OptOutRecords) {
        slots.append(contentsOf: other.slots)
        advertisingIDs.append(contentsOf: other.advertisingIDs)
        kinds.append(contentsOf: other.kinds)
    }

    /// Drops records past the shortest array: the arrays only ever grow together, so this is
    /// a guard for the table, which reads all three at each position.
    mutating func trimToCommonLength() {
        let common = min(slots.count, advertisingIDs.count, kinds.count)
        if slots.count > common { slots.removeSubrange(common...) }
        if advertisingIDs.count > common { advertisingIDs.removeSubrange(common...) }
        if kinds.count > common { kinds.removeSubrange(common...) }
    }

    /// The records from `start` on, in order.
    func suffix(from start: Int) -> OptOutRecords {
        var rest = OptOutRecords()
        let start = min(max(start, 0), count)
        rest.slots = Array(slots[start...])
        rest.advertisingIDs = Array(advertisingIDs[start...])
        rest.kinds = Array(kinds[start...])
        return rest
    }
}

/// Opt-outs in a few flat arrays, built once and never changed (a snapshot shares it; growth
/// builds a new one off the request path, see `OptOutIndex`).
///
/// Layout: the records sorted by the bucket of their first-level hash's leading bits (the hash is
/// SHA-256 output, already uniform, so it is not hashed again), with `firstLevelHashStarts[b]` the
/// first record of bucket `b`. Buckets average 32–64 records, so a lookup reads one 4-byte start
/// and then a few adjacent 40-byte slots: two cache misses, however many records there are. The
/// advertising-id side is a second bucketed list of record positions into the same arrays (4
/// bytes a record), so an id and its time are stored once. Records without a first-level hash
/// sit after the last bucket. About 80 bytes a record in all, with no empty slots.
///
/// Every read is a checked array subscript over ranges checked first; nothing here trusts input.
final class OptOutTable: Sendable {
    let records: OptOutRecords
    let firstLevelHashStarts: [UInt32]
    let firstLevelHashShift: UInt64
    let advertisingIDOrder: [UInt32]
    let advertisingIDStarts: [UInt32]
    let advertisingIDShift: UInt64
    /// Records with a first-level hash, each hash counted once.
    let distinctFirstLevelHashes: Int

    static let empty: OptOutTable = {
        var none = OptOutRecords()
        return OptOutTable(sorting: &none)
    }()

    /// Sorts `records` where they lie (no second copy of them is made): a count by bucket, each
    /// record moved into its bucket in place, then each bucket (a few dozen records, in cache)
    /// sorted by hash. O(n); beside the records it allocates only the bucket starts and the
    /// advertising-id order (4 bytes a record).
    /// `unsorted` is taken (left empty): sorted where it lies, it must be the only reference
    /// to its arrays, or the first move would copy them all.
    /// `workerCopyMinimum`, `parallelMinimum` and `workerCount` are for tests, which reach the
    /// in-place and parallel paths with fewer records (see `placeInGroups`).
    init(
        sorting unsorted: inout OptOutRecords, workerCopyMinimum: Int = OptOutRecords.workerCopyMinimum,
        parallelMinimum: Int = OptOutRecords.parallelMinimum, workerCount: Int = OptOutRecords.workerCount
    ) {
        var records = OptOutRecords()
        swap(&records, &unsorted)
        records.trimToCommonLength()
        let total = records.count
        let withHash = records.kinds.reduce(0) { $0 + ($1 & OptOutRecords.noFirstLevelHash == 0 ? 1 : 0) }
        let (hashBuckets, hashShift) = Self.bucketing(withHash, perBucket: Self.recordsPerHashBucket)
        // Groups: the hash buckets, then one for records without a hash, which go last.
        var groupStarts = [Int](repeating: 0, count: hashBuckets + 2)
        for position in 0..<total {
            let group = records.kinds[position] & OptOutRecords.noFirstLevelHash == 0
                ? Self.bucket(records.slots[position].key, shift: hashShift) : hashBuckets
            groupStarts[group + 1] += 1
        }
        for group in 0...hashBuckets { groupStarts[group + 1] += groupStarts[group] }
        // Sorted within buckets, so a repeated hash sits next to its twin and is counted once.
        let distinct = records.placeInGroups(
            starts: groupStarts, sortingGroupsBelow: hashBuckets, workerCopyMinimum: workerCopyMinimum,
            parallelMinimum: parallelMinimum, workerCount: workerCount
        ) { slot, kind in
            kind & OptOutRecords.noFirstLevelHash == 0 ? Self.bucket(slot.key, shift: hashShift) : hashBuckets
        }
        let starts = groupStarts[0...hashBuckets].map { UInt32(truncatingIfNeeded: $0) }

        let withID = records.kinds.reduce(0) { $0 + ($1 & OptOutRecords.prefixMask != OptOutRecords.noAdvertisingID ? 1 : 0) }
        let (idBuckets, idShift) = Self.bucketing(withID, perBucket: Self.recordsPerIDBucket)
        let parts = records.count < parallelMinimum ? 1 : max(workerCount, 1)
        let (idStarts, order) = Self.advertisingIDOrder(records, withID: withID, buckets: idBuckets, shift: idShift, parts: parts)

        self.records = records
        firstLevelHashStarts = starts
        firstLevelHashShift = hashShift
        advertisingIDOrder = order
        advertisingIDStarts = idStarts
        advertisingIDShift = idShift
        distinctFirstLevelHashes = distinct
    }

    /// A table as it was built before (`OptOutIndexImage` reads one back). The lookups check
    /// every position they read, so arrays that disagree give wrong answers, never a trap.
    init(
        records: OptOutRecords, firstLevelHashStarts: [UInt32], firstLevelHashShift: UInt64,
        advertisingIDOrder: [UInt32], advertisingIDStarts: [UInt32], advertisingIDShift: UInt64, distinctFirstLevelHashes: Int
    ) {
        var records = records
        records.trimToCommonLength()
        self.records = records
        self.firstLevelHashStarts = firstLevelHashStarts
        self.firstLevelHashShift = firstLevelHashShift
        self.advertisingIDOrder = advertisingIDOrder
        self.advertisingIDStarts = advertisingIDStarts
        self.advertisingIDShift = advertisingIDShift
        self.distinctFirstLevelHashes = distinctFirstLevelHashes
    }

    /// The advertising-id side: each bucket's start, and the positions of the records with an id
    /// bucket by bucket, in position order within a bucket. The records are split into one part
    /// per core; each part counts its ids by bucket, and then writes its positions into its own
    /// share of every bucket (after the shares of the parts before it), so the parts never meet.
    private static func advertisingIDOrder(
        _ records: OptOutRecords, withID: Int, buckets: Int, shift: UInt64, parts: Int
    ) -> (starts: [UInt32], order: [UInt32]) {
        let total = records.count
        let ids = records.advertisingIDs, kinds = records.kinds
        guard ids.count >= total, kinds.count >= total else { return ([UInt32](repeating: 0, count: buckets + 1), []) }
        @Sendable func part(_ index: Int) -> Range<Int> { (total * index / parts)..<(total * (index + 1) / parts) }
        @Sendable func idBucket(_ position: Int) -> Int? {
            let kind = kinds[position]
            guard kind & OptOutRecords.prefixMask != OptOutRecords.noAdvertisingID else { return nil }
            return bucket(ids[position], prefix: kind, shift: shift)
        }
        // Part p's counters for bucket b at `p * buckets + b`: first its ids in b, then where it writes next.
        var shares = [UInt32](repeating: 0, count: parts * buckets)
        shares.withUnsafeMutableBufferPointer { buffer in
            let counters = SharedCounters(buffer: buffer)
            DispatchQueue.concurrentPerform(iterations: parts) { index in
                for position in part(index) {
                    if let bucket = idBucket(position), bucket < buckets { _ = counters.take(at: index * buckets + bucket) }
                }
            }
        }
        var starts = [UInt32](repeating: 0, count: buckets + 1)
        var next: UInt32 = 0
        for bucket in 0..<buckets {
            starts[bucket] = next
            for index in 0..<parts {
                let inPart = shares[index * buckets + bucket]
                shares[index * buckets + bucket] = next
                next &+= inPart
            }
        }
        starts[buckets] = next
        var order = [UInt32](repeating: 0, count: min(withID, Int(next)))
        shares.withUnsafeMutableBufferPointer { sharesBuffer in
            order.withUnsafeMutableBufferPointer { orderBuffer in
                let cursors = SharedCounters(buffer: sharesBuffer), target = SharedCounters(buffer: orderBuffer)
                DispatchQueue.concurrentPerform(iterations: parts) { index in
                    for position in part(index) {
                        guard let bucket = idBucket(position), bucket < buckets,
                              let slot = cursors.take(at: index * buckets + bucket) else { continue }
                        target.write(UInt32(truncatingIfNeeded: position), at: Int(slot))
                    }
                }
            }
        }
        return (starts, order)
    }

    var count: Int { records.count }

    /// The earliest time recorded for `key`, nil when none is. The bucket's start and end come
    /// from a small array that stays in cache; within the bucket, sorted by key, the key's
    /// position is guessed from its next bits (the keys are uniform) and found by stepping from
    /// the guess, usually within the cache line the guess lands in.
    func seconds(firstLevelHash key: FirstLevelHashKey) -> Int64? {
        guard let (lower, upper) = searchRange(key) else { return nil }
        var position = searchStart(key, lower: lower, upper: upper)
        while position > lower, records.slots[position - 1].key >= key { position -= 1 }
        while position < upper, records.slots[position].key < key { position += 1 }
        var earliest: Int64?
        while position < upper, records.slots[position].key == key {
            earliest = min(earliest ?? records.slots[position].seconds, records.slots[position].seconds)
            position += 1
        }
        return earliest
    }

    /// The bucket of `key` in `firstLevelHashStarts`; nil past its end (never for a built table).
    private func firstLevelHashBucket(_ key: FirstLevelHashKey) -> Int? {
        let bucket = Self.bucket(key, shift: firstLevelHashShift)
        return bucket + 1 < firstLevelHashStarts.count ? bucket : nil
    }

    /// The slots of `key`'s bucket; nil when it is empty or (never for a built table) out of range.
    private func searchRange(_ key: FirstLevelHashKey) -> (lower: Int, upper: Int)? {
        guard let bucket = firstLevelHashBucket(key) else { return nil }
        let lower = Int(firstLevelHashStarts[bucket]), upper = Int(firstLevelHashStarts[bucket + 1])
        guard lower < upper, upper <= records.slots.count else { return nil }
        return (lower, upper)
    }

    /// Where the search for `key` in its bucket `lower..<upper` (not empty) begins: the 32 bits
    /// after the bucket's, as a fraction of the bucket's length (the hashes are uniform).
    private func searchStart(_ key: FirstLevelHashKey, lower: Int, upper: Int) -> Int {
        let fraction = (key.w0 << (64 - firstLevelHashShift)) >> 32
        return min(lower + Int(truncatingIfNeeded: (fraction &* UInt64(upper - lower)) >> 32), upper - 1)
    }

    /// Slots either side of a search's start that `prefetch` hints: in buckets of 32–64 uniform
    /// keys, about four keys in five are within three slots of the guess, which the search steps
    /// through. A wider reach hints more lines than the core can have in flight for a chunk.
    static let prefetchReach = 3
    static let cacheLineBytes = 64

    /// Starts loading what lookups of `keys` will read, without waiting: each key's bucket start,
    /// then (reading those starts) the cache lines of the slots around where its search begins.
    /// A lookup in a large table waits for those cache misses in turn; a batch caller (an identity
    /// map's chunk) hints all of its keys first, so that their misses overlap. Hinting only the
    /// guessed slot left a search that stepped to the next line waiting on its own, one key after
    /// another. A hint only: nothing is returned.
    func prefetch(firstLevelHashes keys: UnsafeBufferPointer<FirstLevelHashKey>) {
        firstLevelHashStarts.withUnsafeBufferPointer { starts in
            guard let startsBase = starts.baseAddress else { return }
            for key in keys {
                if let bucket = firstLevelHashBucket(key) { uid_prefetch(startsBase + bucket) }
            }
        }
        records.slots.withUnsafeBufferPointer { slots in
            guard let slotsBase = slots.baseAddress else { return }
            for key in keys {
                guard let slots = prefetchedSlots(key) else { continue }
                let first = UnsafeRawPointer(slotsBase + slots.lowerBound)
                let end = UnsafeRawPointer(slotsBase + slots.upperBound)
                var line = first
                while line < end {
                    uid_prefetch(line)
                    line += Self.cacheLineBytes
                }
                // The last slot's tail may begin a line the steps above did not reach.
                uid_prefetch(end - 1)
            }
        }
    }

    /// The slots `prefetch` hints for `key`: those within `prefetchReach` of where its search
    /// begins, inside its bucket; nil when the bucket is empty.
    func prefetchedSlots(_ key: FirstLevelHashKey) -> Range<Int>? {
        guard let (lower, upper) = searchRange(key) else { return nil }
        let start = searchStart(key, lower: lower, upper: upper)
        return max(lower, start - Self.prefetchReach)..<min(upper, start + Self.prefetchReach + 1)
    }

    func seconds(advertisingID key: AdvertisingIDKey) -> Int64? {
        let bucket = Self.bucket(key.body, prefix: key.prefix, shift: advertisingIDShift)
        guard bucket + 1 < advertisingIDStarts.count else { return nil }
        let lower = Int(advertisingIDStarts[bucket]), upper = Int(advertisingIDStarts[bucket + 1])
        guard lower <= upper, upper <= advertisingIDOrder.count else { return nil }
        var earliest: Int64?
        for entry in advertisingIDOrder[lower..<upper] {
            let position = Int(entry)
            guard position < records.count, records.advertisingIDs[position] == key.body,
                  records.kinds[position] & OptOutRecords.prefixMask == key.prefix else { continue }
            let seconds = records.slots[position].seconds
            earliest = min(earliest ?? seconds, seconds)
        }
        return earliest
    }

    /// Bytes the table's arrays hold (their capacity, not just their use).
    var allocatedBytes: Int {
        records.slots.capacity * MemoryLayout<FirstLevelHashSlot>.stride
            + records.advertisingIDs.capacity * MemoryLayout<FirstLevelHashKey>.stride
            + records.kinds.capacity * MemoryLayout<UInt16>.stride
            + (firstLevelHashStarts.capacity + advertisingIDOrder.capacity + advertisingIDStarts.capacity) * MemoryLayout<UInt32>.stride
    }

    /// First-level-hash buckets hold 32–64 records: their starts (under 1 MB for 10M records)
    /// stay in cache, and the guess within a bucket is a few slots off at most.
    static let recordsPerHashBucket = 32
    /// Advertising-id buckets hold 4–8 records, each checked (a rarer lookup: `/v2/optout/status`).
    static let recordsPerIDBucket = 4

    /// A power-of-two bucket count giving `perBucket` to twice that records a bucket, and the
    /// shift that maps a word onto it (at most 2^40 buckets, so the shift is at least 24).
    private static func bucketing(_ count: Int, perBucket: Int) -> (buckets: Int, shift: UInt64) {
        var bits = 0
        while bits < 40, (1 << (bits + 1)) * perBucket <= count { bits += 1 }
        return (1 << bits, UInt64(64 - bits))
    }

    /// The leading bits of the first word (Swift's `>>` by 64 gives 0: one bucket).
    private static func bucket(_ key: FirstLevelHashKey, shift: UInt64) -> Int {
        Int(truncatingIfNeeded: key.w0 >> shift)
    }

    /// Advertising ids are mixed first: not every kind of raw UID is uniform in its leading bytes.
    private static func bucket(_ body: FirstLevelHashKey, prefix: UInt16, shift: UInt64) -> Int {
        var mixed = body.w0 ^ (body.w1 &* 0x9E37_79B9_7F4A_7C15) ^ body.w2 ^ (body.w3 &* 0xC2B2_AE3D_27D4_EB4F) ^ UInt64(prefix & OptOutRecords.prefixMask)
        mixed ^= mixed >> 33
        mixed &*= 0xFF51_AFD7_ED55_8CCD
        mixed ^= mixed >> 33
        return Int(truncatingIfNeeded: mixed >> shift)
    }

    /// An empty array with room for `capacity` values. With `hugePages`, the kernel is asked for
    /// huge pages before any is touched: fewer TLB misses for the array every lookup reads, at
    /// some cost to the build (the kernel may compact memory to find them), so only that one
    /// asks. Only advice.
    static func emptyArray<Value>(capacity: Int, hugePages: Bool = false) -> [Value] {
        [Value](unsafeUninitializedCapacity: max(capacity, 0)) { buffer, initialized in
            if hugePages { adviseHugePages(UnsafeMutableRawBufferPointer(buffer)) }
            initialized = 0
        }
    }

    static func adviseHugePages(_ memory: UnsafeMutableRawBufferPointer) {
        #if canImport(Glibc)
        let hugePage = 2 << 20
        guard let base = memory.baseAddress, memory.count >= 2 * hugePage else { return }
        // Only the whole huge pages inside the allocation.
        let address = UInt(bitPattern: base)
        let start = (address + UInt(hugePage) - 1) & ~UInt(hugePage - 1)
        let end = (address + UInt(memory.count)) & ~UInt(hugePage - 1)
        guard end > start, let aligned = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(aligned, Int(end - start), MADV_HUGEPAGE)
        #endif
    }
}

/// Counters and positions as the parts of `OptOutTable.advertisingIDOrder` use them: each part
/// touches only its own counters and its own shares of the order; an index outside is ignored.
private struct SharedCounters: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<UInt32>

    /// The counter's value, which is then incremented; nil outside the buffer.
    func take(at index: Int) -> UInt32? {
        guard index >= 0, index < buffer.count else { return nil }
        let value = buffer[index]
        buffer[index] = value &+ 1
        return value
    }

    func write(_ value: UInt32, at index: Int) {
        guard index >= 0, index < buffer.count else { return }
        buffer[index] = value
    }
}
