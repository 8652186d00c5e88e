#if canImport(Glibc)
import Glibc
#endif

/// A first-level hash with its opt-out time: the 40 bytes a first-level-hash lookup reads.
struct FirstLevelHashSlot: Sendable, Equatable {
    var key: FirstLevelHashKey
    var seconds: Int64
}

/// A whole record while the table is sorted, so that sorting moves it in one piece.
struct PlacedRecord {
    var slot: FirstLevelHashSlot
    var advertisingID: FirstLevelHashKey
    var kind: UInt16
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

    init(capacity: Int = 0) {
        slots.reserveCapacity(capacity)
        advertisingIDs.reserveCapacity(capacity)
        kinds.reserveCapacity(capacity)
    }

    var count: Int { slots.count }

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
/// first record of bucket `b`. Buckets average 4–8 records, so a lookup reads one 4-byte start
/// and then a few adjacent 40-byte slots: two cache misses, however many records there are. The
/// advertising-id side is a second bucketed list of record positions into the same arrays (4
/// bytes a record), so an id and its time are stored once. Records without a first-level hash
/// sit after the last bucket. About 80 bytes a record in all, with no empty slots.
///
/// Every read is a checked array subscript over ranges checked first; nothing here trusts input.
final class OptOutTable: Sendable {
    let records: OptOutRecords
    private let firstLevelHashStarts: [UInt32]
    private let firstLevelHashShift: UInt64
    private let advertisingIDOrder: [UInt32]
    private let advertisingIDStarts: [UInt32]
    private let advertisingIDShift: UInt64
    /// Records with a first-level hash, each hash counted once.
    let distinctFirstLevelHashes: Int

    static let empty = OptOutTable(OptOutRecords())

    /// Sorts `records` into place: a counting sort by bucket, then each bucket (a few dozen
    /// records, in cache) by its first word. O(n).
    init(_ unsorted: consuming OptOutRecords) {
        let total = unsorted.count
        let withHash = unsorted.kinds.reduce(0) { $0 + ($1 & OptOutRecords.noFirstLevelHash == 0 ? 1 : 0) }
        let (hashBuckets, hashShift) = Self.bucketing(withHash, perBucket: Self.recordsPerHashBucket)
        var starts = [UInt32](repeating: 0, count: hashBuckets + 1)
        for position in 0..<total where unsorted.kinds[position] & OptOutRecords.noFirstLevelHash == 0 {
            starts[Self.bucket(unsorted.slots[position].key, shift: hashShift) + 1] &+= 1
        }
        for bucket in 0..<hashBuckets { starts[bucket + 1] &+= starts[bucket] }
        // Each slot with the position it came from, placed in its bucket; records without a hash
        // go after the last bucket. `next` hands out every position below `total` exactly once.
        var next = starts
        var tail = withHash
        var placed = Self.newArray(count: total, filler: PlacedRecord(slot: FirstLevelHashSlot(key: .zero, seconds: 0), advertisingID: .zero, kind: 0))
        for position in 0..<total {
            var destination = tail
            if unsorted.kinds[position] & OptOutRecords.noFirstLevelHash == 0 {
                let bucket = Self.bucket(unsorted.slots[position].key, shift: hashShift)
                destination = Int(next[bucket])
                next[bucket] &+= 1
            } else {
                tail += 1
            }
            guard destination < placed.count else { continue }
            placed[destination] = PlacedRecord(slot: unsorted.slots[position], advertisingID: unsorted.advertisingIDs[position], kind: unsorted.kinds[position])
        }
        unsorted = OptOutRecords()
        for bucket in 0..<hashBuckets where starts[bucket] <= starts[bucket + 1] && Int(starts[bucket + 1]) <= placed.count {
            placed[Int(starts[bucket])..<Int(starts[bucket + 1])].sort { $0.slot.key < $1.slot.key }
        }
        var sorted = OptOutRecords()
        sorted.slots = Self.newArray(count: total, filler: FirstLevelHashSlot(key: .zero, seconds: 0), hugePages: true)
        sorted.advertisingIDs = Self.newArray(count: total, filler: .zero)
        sorted.kinds = Self.newArray(count: total, filler: 0)
        for (position, entry) in placed.enumerated() {
            sorted.slots[position] = entry.slot
            sorted.advertisingIDs[position] = entry.advertisingID
            sorted.kinds[position] = entry.kind
        }
        placed = []

        let withID = sorted.kinds.reduce(0) { $0 + ($1 & OptOutRecords.prefixMask != OptOutRecords.noAdvertisingID ? 1 : 0) }
        let (idBuckets, idShift) = Self.bucketing(withID, perBucket: Self.recordsPerIDBucket)
        var idStarts = [UInt32](repeating: 0, count: idBuckets + 1)
        for position in 0..<total where sorted.kinds[position] & OptOutRecords.prefixMask != OptOutRecords.noAdvertisingID {
            idStarts[Self.bucket(sorted.advertisingIDs[position], prefix: sorted.kinds[position], shift: idShift) + 1] &+= 1
        }
        for bucket in 0..<idBuckets { idStarts[bucket + 1] &+= idStarts[bucket] }
        var idNext = idStarts
        var order = [UInt32](repeating: 0, count: withID)
        for position in 0..<total where sorted.kinds[position] & OptOutRecords.prefixMask != OptOutRecords.noAdvertisingID {
            let bucket = Self.bucket(sorted.advertisingIDs[position], prefix: sorted.kinds[position], shift: idShift)
            order[Int(idNext[bucket])] = UInt32(truncatingIfNeeded: position)
            idNext[bucket] &+= 1
        }

        // Sorted within buckets, so a repeated hash sits next to its twin.
        var distinct = 0
        for position in 0..<withHash where position == 0 || sorted.slots[position - 1].key != sorted.slots[position].key {
            distinct += 1
        }

        records = sorted
        firstLevelHashStarts = starts
        firstLevelHashShift = hashShift
        advertisingIDOrder = order
        advertisingIDStarts = idStarts
        advertisingIDShift = idShift
        distinctFirstLevelHashes = distinct
    }

    var count: Int { records.count }

    /// The earliest time recorded for `key`, nil when none is. The bucket's start and end come
    /// from a small array that stays in cache; within the bucket, sorted by key, the key's
    /// position is guessed from its next bits (the keys are uniform) and found by stepping from
    /// the guess, usually within the cache line the guess lands in.
    func seconds(firstLevelHash key: FirstLevelHashKey) -> Int64? {
        let bucket = Self.bucket(key, shift: firstLevelHashShift)
        guard bucket + 1 < firstLevelHashStarts.count else { return nil }
        let lower = Int(firstLevelHashStarts[bucket]), upper = Int(firstLevelHashStarts[bucket + 1])
        guard lower < upper, upper <= records.slots.count else { return nil }
        // The 32 bits after the bucket's, as a fraction of the bucket's length.
        let fraction = (key.w0 << (64 - firstLevelHashShift)) >> 32
        var position = min(lower + Int(truncatingIfNeeded: (fraction &* UInt64(upper - lower)) >> 32), upper - 1)
        while position > lower, records.slots[position - 1].key >= key { position -= 1 }
        while position < upper, records.slots[position].key < key { position += 1 }
        var earliest: Int64?
        while position < upper, records.slots[position].key == key {
            earliest = min(earliest ?? records.slots[position].seconds, records.slots[position].seconds)
            position += 1
        }
        return earliest
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

    /// A new array of `count` copies of `filler`. With `hugePages`, the kernel is asked for huge
    /// pages first: fewer TLB misses for the array every lookup reads, at some cost to the build
    /// (the kernel may compact memory to find them), so only that one asks. Only advice.
    private static func newArray<Value>(count: Int, filler: Value, hugePages: Bool = false) -> [Value] {
        [Value](unsafeUninitializedCapacity: count) { buffer, initialized in
            if hugePages { adviseHugePages(UnsafeMutableRawBufferPointer(buffer)) }
            buffer.initialize(repeating: filler)
            initialized = buffer.count
        }
    }

    private static func adviseHugePages(_ memory: UnsafeMutableRawBufferPointer) {
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
