import CPrefetch
import Synchronization

/// The rotating salt buckets and first-level salt, laid out flat so that a million buckets cost a
/// few arrays rather than a million small heap objects. Buckets a salt run changes go to a small
/// overlay consulted first (`replace`), so that applying a run does not copy the arrays that the
/// served snapshot shares; `foldingChanges` writes the overlay into new arrays, off the request path.
public struct SaltTable: Sendable {
    public struct Entry: Sendable, Equatable {
        public var id: Int64
        public var lastUpdatedMillis: Int64
        public var refreshFromMillis: Int64
        public var currentSalt: [UInt8]?
        public var previousSalt: [UInt8]?
        public var currentKey: SaltKeyMaterial?
        public var previousKey: SaltKeyMaterial?

        public init(
            id: Int64, lastUpdatedMillis: Int64, refreshFromMillis: Int64,
            currentSalt: [UInt8]?, previousSalt: [UInt8]? = nil,
            currentKey: SaltKeyMaterial? = nil, previousKey: SaltKeyMaterial? = nil
        ) {
            self.id = id
            self.lastUpdatedMillis = lastUpdatedMillis
            self.refreshFromMillis = refreshFromMillis
            self.currentSalt = currentSalt
            self.previousSalt = previousSalt
            self.currentKey = currentKey
            self.previousKey = previousKey
        }
    }

    /// A slice of `pool`; length 0 means "no salt" (the reference treats blank as absent).
    private struct PoolRange: Sendable {
        var start: UInt32
        var length: UInt16
    }

    public let firstLevelSalt: [UInt8]
    public let idPrefix: String
    public let idSecret: String

    /// A bucket's fixed part, 40 bytes: one array of these rather than one array per field, so that
    /// a lookup at a random position (every mapped identity makes one) misses the cache once, not
    /// five times.
    private struct StoredBucket: Sendable {
        var id: Int64
        var lastUpdatedMillis: Int64
        var refreshFromMillis: Int64
        var current: PoolRange
        var previous: PoolRange
    }

    private var buckets: [StoredBucket] = []
    private var pool: [UInt8] = []
    /// Buckets carrying v4 key material are the exception, so they live in a side table.
    private var keyMaterial: [Int32: (current: SaltKeyMaterial?, previous: SaltKeyMaterial?)] = [:]
    /// Slots a fold freed (a dropped previous salt), by length, for later salts to reuse.
    private var freedSlots: [UInt16: [UInt32]] = [:]
    /// Buckets replaced since the arrays above were written; they take precedence.
    private var changes = ChangedSaltBuckets()
    /// Drawn anew by every `replace`, so that `isIdentical` tells this table from a later one
    /// that shares its arrays.
    private var changeStamp: UInt64 = 0
    private static let changeStamps = Atomic<UInt64>(0)

    public init(firstLevelSalt: [UInt8], idPrefix: String, idSecret: String, expectedCount: Int = 0) {
        self.firstLevelSalt = firstLevelSalt
        self.idPrefix = idPrefix
        self.idSecret = idSecret
        buckets.reserveCapacity(expectedCount)
        pool.reserveCapacity(expectedCount * 44)
    }

    public var count: Int { buckets.count }

    public mutating func append(_ entry: Entry) {
        let position = Int32(buckets.count)
        let current = store(entry.currentSalt)
        let previous = store(entry.previousSalt)
        buckets.append(StoredBucket(
            id: entry.id, lastUpdatedMillis: entry.lastUpdatedMillis, refreshFromMillis: entry.refreshFromMillis,
            current: current, previous: previous
        ))
        if entry.currentKey != nil || entry.previousKey != nil {
            keyMaterial[position] = (entry.currentKey, entry.previousKey)
        }
    }

    /// Replaces the bucket at `position` (a change a salt run made) and returns false for a position
    /// outside the table. The entry goes to the overlay: the flat arrays, which copies of this table
    /// share, are left alone.
    @discardableResult
    public mutating func replace(at position: Int, with entry: Entry) -> Bool {
        guard buckets.indices.contains(position) else { return false }
        changes.set(entry, at: position)
        changeStamp = Self.changeStamps.add(1, ordering: .relaxed).newValue
        return true
    }

    /// Buckets waiting in the overlay.
    public var changedBucketCount: Int { changes.count }

    /// This table with the overlay written into its flat arrays: the same buckets, an empty
    /// overlay. Copies the arrays (O(n)), so it is for a background task.
    public func foldingChanges() -> SaltTable {
        var folded = self
        folded.changes = ChangedSaltBuckets()
        // In position order, so that the pool's slots are reused the same way on every node.
        for (position, entry) in changes.entries.sorted(by: { $0.key < $1.key }) { folded.write(entry, at: position) }
        return folded
    }

    /// Whether `other` is this very table (arrays shared, no replacement since), not merely an
    /// equal one: a fold built from `other` then fits this table too.
    public func isIdentical(to other: SaltTable) -> Bool {
        changeStamp == other.changeStamp && count == other.count && changes.count == other.changes.count
            && buckets.withUnsafeBufferPointer { mine in other.buckets.withUnsafeBufferPointer { mine.baseAddress == $0.baseAddress } }
    }

    /// Writes `entry` into the flat arrays at `position`. A rotation's salts reuse the slots of the
    /// ones the bucket no longer holds, so that folding daily runs does not grow the pool.
    private mutating func write(_ entry: Entry, at position: Int) {
        guard buckets.indices.contains(position), let key = Int32(exactly: position) else { return }
        buckets[position].id = entry.id
        buckets[position].lastUpdatedMillis = entry.lastUpdatedMillis
        buckets[position].refreshFromMillis = entry.refreshFromMillis
        var free = [buckets[position].current, buckets[position].previous].filter { $0.length > 0 }
        var wanted: [[UInt8]?] = [entry.currentSalt, entry.previousSalt].map { salt in
            guard let salt, !salt.isEmpty, salt.count <= Int(UInt16.max) else { return nil }
            return salt
        }
        var placed = [PoolRange(start: 0, length: 0), PoolRange(start: 0, length: 0)]
        // First the salts the bucket already holds (a rotation's old current becomes its previous)…
        for slot in 0..<2 {
            guard let salt = wanted[slot], let index = free.firstIndex(where: { self.salt($0) == salt }) else { continue }
            placed[slot] = free.remove(at: index)
            wanted[slot] = nil
        }
        // …then new ones, overwriting a freed slot of the same length when there is one.
        for slot in 0..<2 {
            guard let salt = wanted[slot] else { continue }
            let length = UInt16(truncatingIfNeeded: salt.count)
            var range: PoolRange?
            if let index = free.firstIndex(where: { $0.length == length }) {
                range = free.remove(at: index)
            } else if let start = freedSlots[length]?.popLast() {
                range = PoolRange(start: start, length: length)
            }
            if let range {
                pool.replaceSubrange(Int(range.start)..<Int(range.start) + salt.count, with: salt)
                placed[slot] = range
            } else {
                placed[slot] = store(salt)
            }
        }
        for range in free { freedSlots[range.length, default: []].append(range.start) }
        buckets[position].current = placed[0]
        buckets[position].previous = placed[1]
        if entry.currentKey != nil || entry.previousKey != nil {
            keyMaterial[key] = (entry.currentKey, entry.previousKey)
        } else {
            keyMaterial[key] = nil
        }
    }

    /// Bytes held for salts, freed slots included (for tests of `foldingChanges`).
    var saltPoolBytes: Int { pool.count }

    private mutating func store(_ salt: [UInt8]?) -> PoolRange {
        guard let salt, !salt.isEmpty, salt.count <= Int(UInt16.max) else { return PoolRange(start: 0, length: 0) }
        let range = PoolRange(start: UInt32(pool.count), length: UInt16(salt.count))
        pool.append(contentsOf: salt)
        return range
    }

    private func salt(_ range: PoolRange) -> [UInt8]? {
        range.length == 0 ? nil : Array(pool[Int(range.start)..<Int(range.start) + Int(range.length)])
    }

    public subscript(position: Int) -> Entry {
        if let changed = changes.entry(at: position) { return changed }
        // Most tables carry no v4 key material: skip hashing the position into an empty table.
        let material = keyMaterial.isEmpty ? nil : keyMaterial[Int32(position)]
        let stored = buckets[position]
        return Entry(
            id: stored.id, lastUpdatedMillis: stored.lastUpdatedMillis, refreshFromMillis: stored.refreshFromMillis,
            currentSalt: salt(stored.current), previousSalt: salt(stored.previous),
            currentKey: material?.current, previousKey: material?.previous
        )
    }

    /// A bucket as `subscript` gives it, but with its salts as views of the table's storage instead
    /// of new arrays: the per-identity lookup of an identity map then allocates nothing and touches
    /// no shared reference count.
    ///
    /// The views are valid only while `body` runs (do not let a `BucketSalts` escape it). They are
    /// safe there: the pool (or the overlay entry's arrays) is held by `self` for the whole call, and
    /// every range is checked against the pool's size before it is handed out.
    public func withBucketSalts<R>(at position: Int, _ body: (BucketSalts) -> R) -> R {
        if let changed = changes.entry(at: position) {
            return Self.withOptionalBytes(changed.currentSalt) { current in
                Self.withOptionalBytes(changed.previousSalt) { previous in
                    body(BucketSalts(
                        id: changed.id, lastUpdatedMillis: changed.lastUpdatedMillis, refreshFromMillis: changed.refreshFromMillis,
                        currentSalt: current, previousSalt: previous, currentKey: changed.currentKey, previousKey: changed.previousKey
                    ))
                }
            }
        }
        let material = keyMaterial.isEmpty ? nil : Int32(exactly: position).flatMap { keyMaterial[$0] }
        let stored = buckets[position]
        return pool.withUnsafeBytes { storage in
            body(BucketSalts(
                id: stored.id, lastUpdatedMillis: stored.lastUpdatedMillis, refreshFromMillis: stored.refreshFromMillis,
                currentSalt: Self.view(storage, stored.current), previousSalt: Self.view(storage, stored.previous),
                currentKey: material?.current, previousKey: material?.previous
            ))
        }
    }

    /// The salt at `range` in `storage`; nil for "no salt" and (never the case: `store` and `write`
    /// place every range inside the pool) for a range past its end.
    private static func view(_ storage: UnsafeRawBufferPointer, _ range: PoolRange) -> UnsafeRawBufferPointer? {
        let start = Int(range.start)
        let end = start + Int(range.length)
        guard range.length > 0, end <= storage.count else { return nil }
        return UnsafeRawBufferPointer(rebasing: storage[start..<end])
    }

    fileprivate static func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        guard let bytes else { return body(nil) }
        return bytes.withUnsafeBytes { body($0) }
    }

    /// Cheap access for scans that need only the rotation time.
    public func lastUpdatedMillis(at position: Int) -> Int64 {
        changes.entry(at: position)?.lastUpdatedMillis ?? buckets[position].lastUpdatedMillis
    }

    /// The bucket id at `position`, without copying its salts.
    public func bucketID(at position: Int) -> Int64 {
        changes.entry(at: position)?.id ?? buckets[position].id
    }

    public func bucketIndex(firstLevelHash flh: [UInt8]) -> Int {
        HashChain.bucketIndex(firstLevelHash: flh, bucketCount: count)
    }

    public func bucketIndex(firstLevelHash flh: InlineBytes) -> Int {
        HashChain.bucketIndex(firstLevelHash: flh, bucketCount: count)
    }

    /// Starts loading the buckets at `positions` into the cache and returns without waiting.
    ///
    /// An identity map looks up a bucket at a random position among a million for each identity,
    /// and each lookup misses the cache twice: the bucket, then its salt in the pool. One after
    /// another, those misses were a fifth of a map's time. Batch callers hint a chunk's buckets
    /// first (`prefetchBuckets`), then their salts (`prefetchSalts`), and only then read them, so the
    /// misses overlap. Hints only: no result changes, and positions outside the table are skipped.
    public func prefetchBuckets(at positions: UnsafeBufferPointer<Int>) {
        buckets.withUnsafeBufferPointer { stored in
            guard let base = stored.baseAddress else { return }
            for position in positions where stored.indices.contains(position) { uid_prefetch(base + position) }
        }
    }

    /// Starts loading the salts of the buckets at `positions` (best after `prefetchBuckets`: it
    /// reads each bucket to find its salt). The previous salt too when `previousAsOfMillis` is
    /// given and the bucket still reports it then. A bucket in the overlay is read from the flat
    /// arrays all the same: a wasted hint, never a wrong answer.
    public func prefetchSalts(at positions: UnsafeBufferPointer<Int>, previousAsOfMillis: Int64?) {
        buckets.withUnsafeBufferPointer { stored in
            pool.withUnsafeBytes { storage in
                func hint(_ range: PoolRange) {
                    guard let salt = Self.view(storage, range), let start = salt.baseAddress else { return }
                    uid_prefetch(start)
                    uid_prefetch(start + salt.count - 1)   // a salt may straddle two cache lines
                }
                for position in positions where stored.indices.contains(position) {
                    let bucket = stored[position]
                    hint(bucket.current)
                    if let asOf = previousAsOfMillis, Entry.reportsPrevious(lastUpdatedMillis: bucket.lastUpdatedMillis, asOfMillis: asOf) {
                        hint(bucket.previous)
                    }
                }
            }
        }
    }
}

/// Everything that shapes a raw UID besides the FLH and the bucket.
public struct RawUIDOptions: Sendable, Equatable {
    public var scope: IdentityScope
    public var identityV3: Bool
    public var environment: IdentityEnvironment

    public init(scope: IdentityScope, identityV3: Bool, environment: IdentityEnvironment) {
        self.scope = scope
        self.identityV3 = identityV3
        self.environment = environment
    }
}

extension SaltTable.Entry {
    /// The current raw UID: salt-based (v2/v3) when a current salt exists, otherwise v4.
    public func currentRawUID(firstLevelHash flh: [UInt8], type: IdentityType, options: RawUIDOptions) -> [UInt8]? {
        rawUID(salt: currentSalt, material: currentKey, flh: flh, type: type, options: options)
    }

    /// Days after a rotation during which the previous raw UID is still reported.
    public static let previousRawUIDDays: Int64 = 90

    /// Whether a bucket rotated at `lastUpdatedMillis` still reports its previous raw UID.
    static func reportsPrevious(lastUpdatedMillis: Int64, asOfMillis: Int64) -> Bool {
        let (age, overflow) = asOfMillis.subtractingReportingOverflow(lastUpdatedMillis)
        return !overflow && age / 86_400_000 < previousRawUIDDays
    }

    /// The previous raw UID, only within 90 days of the bucket's rotation (docs/PROTOCOL.md#previous-uid-and-refresh_from).
    public func previousRawUID(firstLevelHash flh: [UInt8], type: IdentityType, options: RawUIDOptions, asOfMillis: Int64) -> [UInt8]? {
        guard Self.reportsPrevious(lastUpdatedMillis: lastUpdatedMillis, asOfMillis: asOfMillis) else { return nil }
        return rawUID(salt: previousSalt, material: previousKey, flh: flh, type: type, options: options)
    }

    private func rawUID(salt: [UInt8]?, material: SaltKeyMaterial?, flh: [UInt8], type: IdentityType, options: RawUIDOptions) -> [UInt8]? {
        let uid = flh.withUnsafeBytes { flh in
            SaltTable.withOptionalBytes(salt) { SaltTable.BucketSalts.rawUID(salt: $0, material: material, flh: flh, type: type, options: options) }
        }
        return uid?.bytes
    }
}

extension SaltTable {
    /// A bucket whose salts are borrowed from the table (`withBucketSalts`): valid only inside that call.
    public struct BucketSalts {
        public let id: Int64
        public let lastUpdatedMillis: Int64
        public let refreshFromMillis: Int64
        public let currentSalt: UnsafeRawBufferPointer?
        public let previousSalt: UnsafeRawBufferPointer?
        public let currentKey: SaltKeyMaterial?
        public let previousKey: SaltKeyMaterial?

        /// As `Entry.currentRawUID`, held inline.
        public func currentRawUID(firstLevelHash flh: InlineBytes, type: IdentityType, options: RawUIDOptions) -> InlineBytes? {
            flh.withUnsafeBytes { Self.rawUID(salt: currentSalt, material: currentKey, flh: $0, type: type, options: options) }
        }

        /// As `Entry.previousRawUID`: only within 90 days of the bucket's rotation.
        public func previousRawUID(firstLevelHash flh: InlineBytes, type: IdentityType, options: RawUIDOptions, asOfMillis: Int64) -> InlineBytes? {
            guard SaltTable.Entry.reportsPrevious(lastUpdatedMillis: lastUpdatedMillis, asOfMillis: asOfMillis) else { return nil }
            return flh.withUnsafeBytes { Self.rawUID(salt: previousSalt, material: previousKey, flh: $0, type: type, options: options) }
        }

        /// Salt-based (v2/v3) when there is a salt, otherwise v4 from the key material: the one
        /// implementation behind `Entry`'s raw UIDs and these.
        static func rawUID(
            salt: UnsafeRawBufferPointer?, material: SaltKeyMaterial?, flh: UnsafeRawBufferPointer, type: IdentityType, options: RawUIDOptions
        ) -> InlineBytes? {
            if let salt {
                return HashChain.rawUID(firstLevelHash: flh, salt: salt, scope: options.scope, type: type, v3: options.identityV3)
            }
            if let material, !material.key.isEmpty {
                // v4 buckets are the rare case (no salt at all): the array on this path is kept.
                return RawUIDv4.make(firstLevelHash: Array(flh), material: material, scope: options.scope, type: type, environment: options.environment)
                    .flatMap { InlineBytes($0) }
            }
            return nil
        }
    }
}
