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

    /// Reads 32 bytes straight from storage (a database row), without an intermediate array.
    public init?(raw: UnsafeRawBufferPointer) {
        guard raw.count == 32 else { return nil }
        w0 = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        w1 = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        w2 = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        w3 = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
    }

    public var bytes: [UInt8] {
        [w0, w1, w2, w3].flatMap { word in (0..<8).reversed().map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } }
    }
}

/// A raw UID (32 bytes, or 33 with its scope/type prefix) as a hashable value.
public struct AdvertisingIDKey: Hashable, Sendable {
    let body: FirstLevelHashKey
    /// 0x100 for 32-byte ids, else the prefix byte.
    let prefix: UInt16

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
/// advertising id (what `/v2/optout/status` answers). Times are epoch seconds.
public struct OptOutIndex: Sendable {
    private var byFirstLevelHash: [FirstLevelHashKey: Int64]
    private var byAdvertisingID: [AdvertisingIDKey: Int64]

    public init(minimumCapacity: Int = 0) {
        byFirstLevelHash = Dictionary(minimumCapacity: minimumCapacity)
        byAdvertisingID = Dictionary(minimumCapacity: minimumCapacity)
    }

    public var count: Int { byFirstLevelHash.count }

    /// Keeps the earliest time when an identity is recorded twice.
    public mutating func insert(firstLevelHash: [UInt8], advertisingID: [UInt8]? = nil, optedOutSinceSeconds seconds: Int64) {
        firstLevelHash.withUnsafeBytes { insert(firstLevelHash: $0, optedOutSinceSeconds: seconds) }
        advertisingID?.withUnsafeBytes { insert(advertisingID: $0, optedOutSinceSeconds: seconds) }
    }

    /// One key kind at a time, so that bulk loading can build the two halves on two threads (see
    /// `init(firstLevelHashesOf:advertisingIDsOf:)`); keys are read in place from storage, and a new
    /// key costs one hash probe (loading is bound by cache misses in tables of millions).
    public mutating func insert(firstLevelHash raw: UnsafeRawBufferPointer, optedOutSinceSeconds seconds: Int64) {
        guard let key = FirstLevelHashKey(raw: raw) else { return }
        if let earlier = byFirstLevelHash.updateValue(seconds, forKey: key), earlier < seconds {
            byFirstLevelHash[key] = earlier
        }
    }

    public mutating func insert(advertisingID raw: UnsafeRawBufferPointer, optedOutSinceSeconds seconds: Int64) {
        guard let key = AdvertisingIDKey(raw: raw) else { return }
        if let earlier = byAdvertisingID.updateValue(seconds, forKey: key), earlier < seconds {
            byAdvertisingID[key] = earlier
        }
    }

    public init(minimumCapacityByFirstLevelHash: Int, byAdvertisingID: Int) {
        byFirstLevelHash = Dictionary(minimumCapacity: minimumCapacityByFirstLevelHash)
        self.byAdvertisingID = Dictionary(minimumCapacity: byAdvertisingID)
    }

    /// Joins an index built from first-level hashes only with one built from advertising ids only.
    public init(firstLevelHashesOf flhIndex: OptOutIndex, advertisingIDsOf advertisingIndex: OptOutIndex) {
        byFirstLevelHash = flhIndex.byFirstLevelHash
        byAdvertisingID = advertisingIndex.byAdvertisingID
    }

    public mutating func merge(_ other: OptOutIndex) {
        byFirstLevelHash.merge(other.byFirstLevelHash, uniquingKeysWith: min)
        byAdvertisingID.merge(other.byAdvertisingID, uniquingKeysWith: min)
    }

    public func optedOutSince(firstLevelHash: [UInt8]) -> Int64? {
        FirstLevelHashKey(firstLevelHash).flatMap { byFirstLevelHash[$0] }
    }

    public func optedOutSince(advertisingID: [UInt8]) -> Int64? {
        AdvertisingIDKey(advertisingID).flatMap { byAdvertisingID[$0] }
    }
}
