import Dispatch
import Synchronization
import UIDProtocol

/// A first-level hash as a hashable value: four words instead of a heap array, so that millions of
/// opt-outs cost a few dozen bytes each and a lookup hashes 32 bytes without allocating.
public struct FirstLevelHashKey: Hashable, Sendable {
    let w0, w1, w2, w3: UInt64

    /// Contiguous bytes are read as four words; anything else is copied first.
    public init?(_ bytes: some Collection<UInt8>) {
        let contiguous = bytes.withContiguousStorageIfAvailable { FirstLevelHashKey(raw: UnsafeRawBufferPointer($0)) }
        guard let key = contiguous ?? Array(bytes).withUnsafeBytes({ FirstLevelHashKey(raw: $0) }) else { return nil }
        self = key
    }

    /// The lookup path (every generate, refresh and mapped identity, twice): four word loads.
    public init?(_ bytes: [UInt8]) {
        guard let key = bytes.withUnsafeBytes({ FirstLevelHashKey(raw: $0) }) else { return nil }
        self = key
    }

    /// The identity-map path: the first-level hash is held inline.
    public init?(_ flh: InlineBytes) {
        guard let key = flh.withUnsafeBytes({ FirstLevelHashKey(raw: $0) }) else { return nil }
        self = key
    }

    /// Reads 32 bytes straight from storage (a database row), without an intermediate array.
    public init?(raw: UnsafeRawBufferPointer) {
        guard raw.count == 32 else { return nil }
        w0 = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        w1 = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        w2 = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        w3 = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
    }

    init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        (self.w0, self.w1, self.w2, self.w3) = (w0, w1, w2, w3)
    }

    static let zero = FirstLevelHashKey(w0: 0, w1: 0, w2: 0, w3: 0)

    public var bytes: [UInt8] {
        [w0, w1, w2, w3].flatMap { word in (0..<8).reversed().map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } }
    }
}

/// Byte order, as the big-endian words keep it.
extension FirstLevelHashKey: Comparable {
    public static func < (left: FirstLevelHashKey, right: FirstLevelHashKey) -> Bool {
        (left.w0, left.w1, left.w2, left.w3) < (right.w0, right.w1, right.w2, right.w3)
    }
}

/// A raw UID (32 bytes, or 33 with its scope/type prefix) as a hashable value.
public struct AdvertisingIDKey: Hashable, Sendable {
    let body: FirstLevelHashKey
    /// 0x100 for 32-byte ids, else the prefix byte.
    let prefix: UInt16

    init(body: FirstLevelHashKey, prefix: UInt16) {
        self.body = body
        self.prefix = prefix
    }

    public init?(raw: UnsafeRawBufferPointer) {
        switch raw.count {
        case 32:
            guard let body = FirstLevelHashKey(raw: raw) else { return nil }
            self.body = body
            prefix = 0x100
        case 33:
            guard let body = FirstLevelHashKey(raw: UnsafeRawBufferPointer(rebasing: raw.dropFirst())) else { return nil }
            self.body = body
            prefix = UInt16(raw[0])
        default:
            return nil
        }
    }

    public init?(_ bytes: [UInt8]) {
        guard let key = bytes.withUnsafeBytes({ AdvertisingIDKey(raw: $0) }) else { return nil }
        self = key
    }
}

/// Opt-out records: by first-level hash (what generate, refresh and map check) and by
/// advertising id (what `/v2/optout/status` answers). Times are epoch seconds; a key recorded
/// more than once answers with its earliest time.
///
/// A flat table (`OptOutTable`, about 80 bytes a record) plus records inserted since it was
/// built, kept in small dictionaries. Once those reach a quarter of the table they are folded in
/// by building a new table (O(n), amortised O(1) an insert). A table is never changed after it
/// is built, so a snapshot holding one is never disturbed; `OperatorSnapshot` keeps its own
/// recent opt-outs in a second, small index and folds it into the main one on a background task.
public struct OptOutIndex: Sendable {
    private(set) var table: OptOutTable
    private var pending: OptOutRecords
    private var pendingByFirstLevelHash: [FirstLevelHashKey: Int64] = [:]
    private var pendingByAdvertisingID: [AdvertisingIDKey: Int64] = [:]
    /// Pending first-level hashes the table does not hold.
    private var pendingNewFirstLevelHashes = 0

    /// `minimumCapacity` reserves room for that many records before the first fold; bulk loads
    /// use `Builder`, which builds the table once.
    public init(minimumCapacity: Int = 0) {
        table = .empty
        pending = OptOutRecords(capacity: min(max(minimumCapacity, 0), Self.minimumFoldSize))
    }

    init(table: OptOutTable) {
        self.table = table
        pending = OptOutRecords()
    }

    /// Distinct first-level hashes.
    public var count: Int { table.distinctFirstLevelHashes + pendingNewFirstLevelHashes }

    /// Records held, duplicates included (a record carries a first-level hash, an id, or both).
    public var recordCount: Int { table.count + pending.count }

    /// Records inserted since the table was built and not yet folded into it.
    public var pendingCount: Int { pending.count }

    /// Bytes held by the flat table's arrays (the records not yet folded in are not counted).
    public var tableBytes: Int { table.allocatedBytes }

    /// Records inserted since the table was built, up to this many, stay in dictionaries.
    static let minimumFoldSize = 65_536

    /// Keeps the earliest time when an identity is recorded twice. Invalid keys are skipped.
    public mutating func insert(firstLevelHash: [UInt8], advertisingID: [UInt8]? = nil, optedOutSinceSeconds seconds: Int64) {
        let hashKey = FirstLevelHashKey(firstLevelHash)
        let idKey = advertisingID.flatMap { AdvertisingIDKey($0) }
        guard hashKey != nil || idKey != nil else { return }
        pending.append(firstLevelHash: hashKey, advertisingID: idKey, seconds: seconds)
        if let hashKey {
            if let earlier = pendingByFirstLevelHash.updateValue(seconds, forKey: hashKey) {
                if earlier < seconds { pendingByFirstLevelHash[hashKey] = earlier }
            } else if table.seconds(firstLevelHash: hashKey) == nil {
                pendingNewFirstLevelHashes += 1
            }
        }
        if let idKey, let earlier = pendingByAdvertisingID.updateValue(seconds, forKey: idKey), earlier < seconds {
            pendingByAdvertisingID[idKey] = earlier
        }
        if pending.count >= max(Self.minimumFoldSize, table.count / 4) { fold(adding: OptOutRecords()) }
    }

    /// Adds every record of `other`: builds one new table from both.
    public mutating func merge(_ other: OptOutIndex) {
        var added = other.table.records
        added.append(contentsOf: other.pending)
        fold(adding: added)
    }

    /// `self` and `other` in one new index: what a background task builds, off the request path.
    public func merging(_ other: OptOutIndex) -> OptOutIndex {
        var merged = self
        merged.merge(other)
        return merged
    }

    private mutating func fold(adding added: OptOutRecords) {
        // Sized exactly: the new table is sorted in these arrays, and the old one stays shared.
        var records = OptOutRecords(capacity: table.count + pending.count + added.count)
        records.append(contentsOf: table.records)
        records.append(contentsOf: pending)
        records.append(contentsOf: added)
        self = OptOutIndex(table: OptOutTable(sorting: &records))
    }

    /// True when `other` is this very index: the same table and the same inserts since.
    public func isIdentical(to other: OptOutIndex) -> Bool {
        table === other.table && pending.count == other.pending.count
    }

    /// The records inserted after the first `dropped`, as a new index; nil when this index has
    /// a table (its order is lost there). For the small overlay `OperatorSnapshot` folds.
    public func droppingFirst(_ dropped: Int) -> OptOutIndex? {
        guard table.count == 0 else { return nil }
        var rest = OptOutIndex()
        rest.pending = pending.suffix(from: dropped)
        for position in 0..<rest.pending.count {
            let kind = rest.pending.kinds[position]
            let seconds = rest.pending.slots[position].seconds
            if kind & OptOutRecords.noFirstLevelHash == 0 {
                let key = rest.pending.slots[position].key
                if let earlier = rest.pendingByFirstLevelHash.updateValue(seconds, forKey: key) {
                    if earlier < seconds { rest.pendingByFirstLevelHash[key] = earlier }
                } else {
                    rest.pendingNewFirstLevelHashes += 1
                }
            }
            let prefix = kind & OptOutRecords.prefixMask
            if prefix != OptOutRecords.noAdvertisingID {
                let key = AdvertisingIDKey(body: rest.pending.advertisingIDs[position], prefix: prefix)
                if let earlier = rest.pendingByAdvertisingID.updateValue(seconds, forKey: key), earlier < seconds {
                    rest.pendingByAdvertisingID[key] = earlier
                }
            }
        }
        return rest
    }

    public func optedOutSince(firstLevelHash: [UInt8]) -> Int64? {
        FirstLevelHashKey(firstLevelHash).flatMap { optedOutSince(firstLevelHash: $0) }
    }

    public func optedOutSince(firstLevelHash key: FirstLevelHashKey) -> Int64? {
        let stored = table.seconds(firstLevelHash: key)
        guard !pendingByFirstLevelHash.isEmpty, let recent = pendingByFirstLevelHash[key] else { return stored }
        return min(stored ?? recent, recent)
    }

    /// Hints the table's part of first-level-hash lookups of `keys` into the cache (see
    /// `OptOutTable.prefetch`); the recent opt-outs waiting beside it are few and not hinted.
    /// Public for the benchmarks, which time lookups batched as identity map makes them.
    public func prefetch(firstLevelHashes keys: UnsafeBufferPointer<FirstLevelHashKey>) {
        table.prefetch(firstLevelHashes: keys)
    }

    public func optedOutSince(advertisingID: [UInt8]) -> Int64? {
        guard let key = AdvertisingIDKey(advertisingID) else { return nil }
        let stored = table.seconds(advertisingID: key)
        guard !pendingByAdvertisingID.isEmpty, let recent = pendingByAdvertisingID[key] else { return stored }
        return min(stored ?? recent, recent)
    }
}

extension OptOutIndex {
    /// Builds an index from many records at once (a node's start): each record is read in place
    /// from storage straight into flat arrays sized up front, and the table is then sorted in
    /// those same arrays, so the records are held once (about 74 bytes each) throughout.
    public struct Builder: Sendable {
        private var records: OptOutRecords
        /// The pages of the arrays being mapped on another thread (see `init`).
        private let mapping: DispatchGroup?

        /// `capacity`: the number of records expected (a `COUNT(*)` first), so no array grows.
        /// The kernel maps (and zeroes) the arrays' pages on another core while the caller fills
        /// them: at ten million records that is 760 MB, a second of faults the scan would take.
        public init(capacity: Int) {
            records = OptOutRecords(capacity: max(capacity, 0))
            mapping = records.count == 0 && capacity >= Self.mappingMinimum ? records.mapCapacityInBackground() : nil
        }

        /// Fewer records fault their pages faster than a thread starts.
        static let mappingMinimum = 1 << 18

        public var count: Int { records.count }

        /// A record with a first-level hash, an advertising id, or both; keys of the wrong length
        /// are skipped, and a record with neither is.
        public mutating func append(firstLevelHash: UnsafeRawBufferPointer?, advertisingID: UnsafeRawBufferPointer?, optedOutSinceSeconds seconds: Int64) {
            records.append(
                firstLevelHash: firstLevelHash.flatMap { FirstLevelHashKey(raw: $0) },
                advertisingID: advertisingID.flatMap { AdvertisingIDKey(raw: $0) }, seconds: seconds
            )
        }

        /// The index; the builder is left empty. Mutating, not consuming: the records are taken
        /// out of the builder's own storage, so the table sorts the only reference to them (a
        /// second one, such as a consumed builder still alive, would copy all of them first).
        public mutating func build() -> OptOutIndex {
            mapping?.wait()
            return OptOutIndex(table: OptOutTable(sorting: &records))
        }
    }
}

extension OptOutIndex {
    /// Where one part of `build(partCapacities:read:)` appends its records: its own range of the
    /// index's arrays, which no other part writes.
    public struct PartAppender {
        private let slots: UnsafeMutableBufferPointer<FirstLevelHashSlot>
        private let advertisingIDs: UnsafeMutableBufferPointer<FirstLevelHashKey>
        private let kinds: UnsafeMutableBufferPointer<UInt16>
        /// Records appended so far.
        public private(set) var count = 0

        fileprivate init(
            slots: UnsafeMutableBufferPointer<FirstLevelHashSlot>, advertisingIDs: UnsafeMutableBufferPointer<FirstLevelHashKey>,
            kinds: UnsafeMutableBufferPointer<UInt16>
        ) {
            (self.slots, self.advertisingIDs, self.kinds) = (slots, advertisingIDs, kinds)
        }

        /// As `Builder.append`; false, with the record not kept, once the part's room is used up.
        public mutating func append(firstLevelHash: UnsafeRawBufferPointer?, advertisingID: UnsafeRawBufferPointer?, optedOutSinceSeconds seconds: Int64) -> Bool {
            let hashKey = firstLevelHash.flatMap { FirstLevelHashKey(raw: $0) }
            let idKey = advertisingID.flatMap { AdvertisingIDKey(raw: $0) }
            guard hashKey != nil || idKey != nil else { return true }
            guard count < slots.count, count < advertisingIDs.count, count < kinds.count else { return false }
            slots.initializeElement(at: count, to: FirstLevelHashSlot(key: hashKey ?? .zero, seconds: seconds))
            advertisingIDs.initializeElement(at: count, to: idKey?.body ?? .zero)
            kinds.initializeElement(
                at: count, to: (hashKey == nil ? OptOutRecords.noFirstLevelHash : 0) | (idKey?.prefix ?? OptOutRecords.noAdvertisingID)
            )
            count += 1
            return true
        }
    }

    /// Builds an index from several sources read at once (a node's start reads its store in two
    /// ranges of ids on two connections). Part `p` appends, on its own thread, into its own range
    /// of one set of arrays (`partCapacities[p]` records, after the parts before it); the parts are
    /// then closed up in part order, so the records lie as one reader appending part after part
    /// would have left them, and sorted as `Builder.build` does. The first error a part throws is
    /// thrown once every part has finished.
    public static func build(
        partCapacities: [Int], read: @Sendable (_ part: Int, _ appender: inout PartAppender) throws -> Void
    ) throws -> OptOutIndex {
        var offsets = [0]
        for capacity in partCapacities {
            let (end, overflow) = (offsets.last ?? 0).addingReportingOverflow(max(capacity, 0))
            guard !overflow else { throw PartCapacityOverflow() }
            offsets.append(end)
        }
        let parts = partCapacities.count, total = offsets.last ?? 0, starts = offsets
        let failure = Mutex<(any Error)?>(nil)
        var advertisingIDs: [FirstLevelHashKey] = [], kinds: [UInt16] = []
        var slots = [FirstLevelHashSlot](unsafeUninitializedCapacity: total) { slotBuffer, slotsFilled in
            OptOutTable.adviseHugePages(UnsafeMutableRawBufferPointer(slotBuffer))
            advertisingIDs = [FirstLevelHashKey](unsafeUninitializedCapacity: total) { idBuffer, idsFilled in
                kinds = [UInt16](unsafeUninitializedCapacity: total) { kindBuffer, kindsFilled in
                    let mapping = total >= Builder.mappingMinimum ? OptOutRecords.mapInBackground(
                        [
                            OptOutRecords.region(UnsafePointer(slotBuffer.baseAddress), total),
                            OptOutRecords.region(UnsafePointer(idBuffer.baseAddress), total),
                            OptOutRecords.region(UnsafePointer(kindBuffer.baseAddress), total),
                        ],
                        capacity: total
                    ) : nil
                    let buffers = OptOutRecordBuffers(slots: slotBuffer, advertisingIDs: idBuffer, kinds: kindBuffer)
                    let counts = Mutex([Int](repeating: 0, count: parts))
                    DispatchQueue.concurrentPerform(iterations: parts) { part in
                        var appender = buffers.appender(starts[part]..<starts[part + 1])
                        do { try read(part, &appender) } catch { failure.withLock { $0 = $0 ?? error } }
                        counts.withLock { $0[part] = appender.count }
                    }
                    // Each part's records moved down to follow the part before (only when a part
                    // left room unused: ids missing from its range).
                    var filled = 0
                    for (part, count) in counts.withLock({ $0 }).enumerated() {
                        buffers.move(offsets[part]..<(offsets[part] + count), to: filled)
                        filled += count
                    }
                    mapping?.wait()
                    kindsFilled = filled
                    idsFilled = filled
                    slotsFilled = filled
                }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        // Swapped in, not assigned: the table sorts the only reference to each array (a second
        // one, still alive, would have the first write copy the whole array).
        var records = OptOutRecords()
        swap(&records.slots, &slots)
        swap(&records.advertisingIDs, &advertisingIDs)
        swap(&records.kinds, &kinds)
        return OptOutIndex(table: OptOutTable(sorting: &records))
    }

    /// Part capacities adding up past what an array can hold.
    public struct PartCapacityOverflow: Error {}
}

/// What the parts of `OptOutIndex.build(partCapacities:read:)` do with the arrays they fill.
extension OptOutRecordBuffers {
    /// An appender for `range` (an empty one when the range lies outside the arrays).
    func appender(_ range: Range<Int>) -> OptOutIndex.PartAppender {
        let range = holds(range) ? range : 0..<0
        return OptOutIndex.PartAppender(
            slots: UnsafeMutableBufferPointer(rebasing: slots[range]),
            advertisingIDs: UnsafeMutableBufferPointer(rebasing: advertisingIDs[range]),
            kinds: UnsafeMutableBufferPointer(rebasing: kinds[range])
        )
    }

    /// Moves the records in `range` down to `start` (the ranges may overlap; nothing when
    /// either lies outside the arrays or `start` is above the range).
    func move(_ range: Range<Int>, to start: Int) {
        guard start < range.lowerBound, start >= 0, holds(range), !range.isEmpty,
              let slotBase = slots.baseAddress, let idBase = advertisingIDs.baseAddress, let kindBase = kinds.baseAddress
        else { return }
        // Copied front to back, which is safe for a move to lower addresses.
        for position in range {
            (slotBase + (position - range.lowerBound + start)).initialize(to: slotBase[position])
            (idBase + (position - range.lowerBound + start)).initialize(to: idBase[position])
            (kindBase + (position - range.lowerBound + start)).initialize(to: kindBase[position])
        }
    }
}
