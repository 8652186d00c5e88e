import Crypto
import Dispatch
import Synchronization

/// An opt-out index's table as bytes, so that a node can keep it beside its store and start from
/// it instead of sorting every record again (ten million records take seconds to read and sort,
/// and well under one to read back).
///
/// Layout: a header of sixteen words, the caller's `origin` (what the image was built from, for
/// the caller to check), the table's six arrays as they lie in memory, and a SHA-256 digest of
/// each part at the end. Reading checks the sizes against the header before allocating anything
/// and every digest before the index is used, so a torn or damaged file is refused, never
/// trusted. The arrays are written in this machine's byte order and layout, which the header
/// records; an image from another kind of machine is refused too.
public enum OptOutIndexImage {
    /// Why an image was refused.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    static let magic: UInt64 = 0x3158_4954_504F_4455 // "UDOPTIX1" read as a little-endian word
    static let version: UInt64 = 1
    static let byteOrderProbe: UInt64 = 0x0102_0304_0506_0708
    static let headerWordCount = 16
    static let headerBytes = headerWordCount * 8
    /// What `origin` may hold: a few identifiers, not data.
    public static let originLimit = 4096
    static let digestBytes = SHA256.byteCount
    /// Pieces copied and hashed at a time: large enough for few calls, small enough to stay in cache.
    static let chunkBytes = 4 << 20

    /// Writes `index`'s table through `write` (called with consecutive pieces of the image).
    /// Returns false, writing nothing, when the index holds records not yet folded into its table
    /// (an image holds a table only) or `origin` is over `originLimit`.
    public static func write(_ index: OptOutIndex, origin: [UInt8], to write: (UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
        guard index.pendingCount == 0, origin.count <= originLimit else { return false }
        let table = index.table
        let layout = Layout(table: table, originCount: origin.count)
        var digests: [UInt8] = []
        var header = SHA256()
        try layout.header.withUnsafeBytes { bytes in
            header.update(bufferPointer: bytes)
            try write(bytes)
        }
        let padded = origin + [UInt8](repeating: 0, count: layout.originPadding)
        try padded.withUnsafeBytes { bytes in
            header.update(bufferPointer: bytes)
            try write(bytes)
        }
        digests += header.finalize()
        func region<Value>(_ array: [Value]) throws {
            try array.withUnsafeBytes { bytes in
                var digest = SHA256()
                var offset = 0
                while offset < bytes.count {
                    let piece = UnsafeRawBufferPointer(rebasing: bytes[offset..<min(offset + chunkBytes, bytes.count)])
                    digest.update(bufferPointer: piece)
                    try write(piece)
                    offset += piece.count
                }
                digests += digest.finalize()
            }
        }
        try region(table.records.slots)
        try region(table.records.advertisingIDs)
        try region(table.records.kinds)
        try region(table.firstLevelHashStarts)
        try region(table.advertisingIDOrder)
        try region(table.advertisingIDStarts)
        try digests.withUnsafeBytes { try write($0) }
        return true
    }

    /// The origin recorded in an image, read from its first bytes alone (`read(offset, buffer)`
    /// fills `buffer` from the image at `offset`), so a caller can decide whether the image is
    /// worth reading whole. Throws `Invalid` for a header that does not fit `size`.
    public static func origin(size: Int, read: (Int, UnsafeMutableRawBufferPointer) throws -> Void) throws -> [UInt8] {
        let layout = try Layout(header: readHeader(size: size, read: read), size: size)
        var origin = [UInt8](repeating: 0, count: layout.originCount)
        try origin.withUnsafeMutableBytes { try read(headerBytes, $0) }
        return origin
    }

    /// Reads an image of `size` bytes back into an index: the arrays are allocated from the
    /// header's counts (checked against `size` first) and filled in place by `read`, which is
    /// called from several threads at once for different ranges. Every digest is checked before
    /// the index is returned; any mismatch throws `Invalid`.
    public static func read(size: Int, read: @Sendable (Int, UnsafeMutableRawBufferPointer) throws -> Void) throws -> (index: OptOutIndex, origin: [UInt8]) {
        let words = try readHeader(size: size, read: read)
        let layout = try Layout(header: words, size: size)
        var expected = [UInt8](repeating: 0, count: Layout.regionCount * digestBytes + digestBytes)
        try expected.withUnsafeMutableBytes { try read(size - $0.count, $0) }
        let computed = Mutex([[UInt8]](repeating: [], count: Layout.regionCount + 1))
        let failure = Mutex<(any Error)?>(nil)

        var prefix = [UInt8](repeating: 0, count: headerBytes + layout.originCount + layout.originPadding)
        try prefix.withUnsafeMutableBytes { try read(0, $0) }
        let origin = Array(prefix[headerBytes..<(headerBytes + layout.originCount)])
        computed.withLock { $0[0] = Array(SHA256.hash(data: prefix)) }

        let offsets = layout.regionOffsets, counts = layout.counts
        var ids: [FirstLevelHashKey] = [], kinds: [UInt16] = []
        var hashStarts: [UInt32] = [], order: [UInt32] = [], idStarts: [UInt32] = []
        // Each array filled where it lies, all six at once; every element type is plain bytes,
        // so a filled region holds valid values. On any failure every array is left empty.
        var slots = [FirstLevelHashSlot](unsafeUninitializedCapacity: counts[0]) { b0, n0 in
            OptOutTable.adviseHugePages(UnsafeMutableRawBufferPointer(b0))
            ids = [FirstLevelHashKey](unsafeUninitializedCapacity: counts[1]) { b1, n1 in
                kinds = [UInt16](unsafeUninitializedCapacity: counts[2]) { b2, n2 in
                    hashStarts = [UInt32](unsafeUninitializedCapacity: counts[3]) { b3, n3 in
                        order = [UInt32](unsafeUninitializedCapacity: counts[4]) { b4, n4 in
                            idStarts = [UInt32](unsafeUninitializedCapacity: counts[5]) { b5, n5 in
                                let regions = [
                                    MutableRegion(b0, counts[0]), MutableRegion(b1, counts[1]), MutableRegion(b2, counts[2]),
                                    MutableRegion(b3, counts[3]), MutableRegion(b4, counts[4]), MutableRegion(b5, counts[5]),
                                ]
                                DispatchQueue.concurrentPerform(iterations: regions.count) { index in
                                    guard failure.withLock({ $0 == nil }) else { return }
                                    do {
                                        let digest = try Self.fill(regions[index], from: offsets[index], read: read)
                                        computed.withLock { $0[index + 1] = digest }
                                    } catch {
                                        failure.withLock { $0 = $0 ?? error }
                                    }
                                }
                                let filled = failure.withLock { $0 == nil }
                                (n0, n1, n2, n3, n4, n5) = filled ? (counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]) : (0, 0, 0, 0, 0, 0)
                            }
                        }
                    }
                }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        guard computed.withLock({ $0.joined().elementsEqual(expected) }) else { throw Invalid("the opt-out index image failed its checksum") }
        var records = OptOutRecords()
        swap(&records.slots, &slots)
        swap(&records.advertisingIDs, &ids)
        swap(&records.kinds, &kinds)
        let table = OptOutTable(
            records: records, firstLevelHashStarts: hashStarts, firstLevelHashShift: layout.hashShift,
            advertisingIDOrder: order, advertisingIDStarts: idStarts, advertisingIDShift: layout.idShift,
            distinctFirstLevelHashes: layout.distinct
        )
        return (OptOutIndex(table: table), origin)
    }

    private static func readHeader(size: Int, read: (Int, UnsafeMutableRawBufferPointer) throws -> Void) throws -> [UInt64] {
        guard size >= headerBytes else { throw Invalid("an opt-out index image of \(size) bytes is too short") }
        var words = [UInt64](repeating: 0, count: headerWordCount)
        try words.withUnsafeMutableBytes { try read(0, $0) }
        return words
    }

    private static func fill(_ region: MutableRegion, from offset: Int, read: (Int, UnsafeMutableRawBufferPointer) throws -> Void) throws -> [UInt8] {
        var digest = SHA256()
        guard region.byteCount > 0 else { return Array(digest.finalize()) }
        guard let base = UnsafeMutableRawPointer(bitPattern: region.address) else { throw Invalid("an opt-out index array could not be allocated") }
        var done = 0
        while done < region.byteCount {
            let piece = UnsafeMutableRawBufferPointer(start: base + done, count: min(chunkBytes, region.byteCount - done))
            try read(offset + done, piece)
            digest.update(bufferPointer: UnsafeRawBufferPointer(piece))
            done += piece.count
        }
        return Array(digest.finalize())
    }

    /// An array's uninitialized storage, as an address so that workers may share it; each
    /// region is filled by one worker only.
    private struct MutableRegion: Sendable {
        let address: UInt
        let byteCount: Int

        init<Value>(_ buffer: UnsafeMutableBufferPointer<Value>, _ count: Int) {
            address = UInt(bitPattern: buffer.baseAddress)
            byteCount = buffer.baseAddress == nil ? 0 : min(count, buffer.count) * MemoryLayout<Value>.stride
        }
    }
}
