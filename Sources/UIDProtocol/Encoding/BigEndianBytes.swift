/// Big-endian integer framing for token and envelope layouts (all multi-byte integers on the wire
/// are big-endian, docs/PROTOCOL.md#conventions).
extension Array where Element == UInt8 {
    @inlinable
    public mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        var big = value.bigEndian
        Swift.withUnsafeBytes(of: &big) { append(contentsOf: $0) }
    }
}

/// A bounds-checked cursor over bytes: every read returns nil instead of trapping, so malformed
/// input can only ever produce a decoding error.
public struct ByteReader<Bytes: RandomAccessCollection> where Bytes.Element == UInt8, Bytes.Index == Int {
    public let bytes: Bytes
    public private(set) var offset: Int

    public init(_ bytes: Bytes) {
        self.bytes = bytes
        self.offset = bytes.startIndex
    }

    public var remaining: Int { bytes.endIndex - offset }

    public mutating func readInteger<T: FixedWidthInteger>(as: T.Type = T.self) -> T? {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { return nil }
        var value: T = 0
        for index in offset..<(offset + size) {
            value = value << 8 | T(truncatingIfNeeded: bytes[index])
        }
        offset += size
        return value
    }

    public mutating func readBytes(_ count: Int) -> Bytes.SubSequence? {
        guard count >= 0, remaining >= count else { return nil }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    public mutating func readRest() -> Bytes.SubSequence {
        defer { offset = bytes.endIndex }
        return bytes[offset...]
    }
}
