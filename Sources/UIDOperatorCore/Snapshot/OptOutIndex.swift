/// A first-level hash as a hashable value: four words instead of a heap array, so that millions of
/// opt-outs cost 40 bytes each and a lookup hashes 32 bytes without allocating.
public struct FirstLevelHashKey: Hashable, Sendable {
    let w0, w1, w2, w3: UInt64

    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        var words = [UInt64](repeating: 0, count: 4)
        for (index, byte) in bytes.enumerated() {
            words[index / 8] = words[index / 8] << 8 | UInt64(byte)
        }
        (w0, w1, w2, w3) = (words[0], words[1], words[2], words[3])
    }

    public var bytes: [UInt8] {
        [w0, w1, w2, w3].flatMap { word in (0..<8).reversed().map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } }
    }
}

/// Opt-out records by first-level hash, with the time of opt-out in epoch seconds.
public struct OptOutIndex: Sendable {
    private var entries: [FirstLevelHashKey: Int64]

    public init(minimumCapacity: Int = 0) {
        entries = Dictionary(minimumCapacity: minimumCapacity)
    }

    public var count: Int { entries.count }

    /// Keeps the earliest opt-out when a hash is recorded twice.
    public mutating func insert(firstLevelHash: [UInt8], optedOutSinceSeconds: Int64) {
        guard let key = FirstLevelHashKey(firstLevelHash) else { return }
        if let existing = entries[key], existing <= optedOutSinceSeconds { return }
        entries[key] = optedOutSinceSeconds
    }

    public func optedOutSince(firstLevelHash: [UInt8]) -> Int64? {
        FirstLevelHashKey(firstLevelHash).flatMap { entries[$0] }
    }
}
