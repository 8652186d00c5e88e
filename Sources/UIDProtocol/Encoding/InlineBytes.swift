/// Up to 40 bytes held in the value itself: an identity hash, a first-level hash or a raw UID on
/// the identity-map path.
///
/// As `[UInt8]`, each of those was a heap object per identity (an allocation, a generic metadata
/// lookup, reference counting and a free), three or four per mapped identity: together about a
/// tenth of a map's time. This keeps them on the stack, or inline in the array of answers.
public struct InlineBytes: Sendable, Equatable {
    /// The most bytes a value holds: a raw UID (33), a decoded 44-character hash (33) or a digest (32) fit.
    public static let capacity = 40

    /// Bytes past `length` stay zero, so equal values have equal storage.
    private var storage: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
    private var length: UInt8 = 0

    public var count: Int { Int(length) }

    /// A value of `count` bytes (at most `capacity`: a larger count is cut to it) written by
    /// `write`, which gets exactly that many bytes, zeroed.
    public init(count: Int, writing write: (UnsafeMutableRawBufferPointer) -> Void) {
        let kept = max(0, min(count, Self.capacity))
        length = UInt8(truncatingIfNeeded: kept)
        withUnsafeMutableBytes(of: &storage) { write(UnsafeMutableRawBufferPointer(rebasing: $0[0..<kept])) }
    }

    /// As above, with `write` saying how many of the `count` bytes it wrote (nil: no value).
    public init?(count: Int, writingUpTo write: (UnsafeMutableRawBufferPointer) -> Int?) {
        var written: Int?
        self.init(count: count) { written = write($0) }
        guard let written, written >= 0, written <= self.count else { return nil }
        // Clear what `write` may have put past its own count, so that equal values stay equal.
        let end = self.count
        _ = withUnsafeMutableBytes(of: &storage) { $0[written..<end].initializeMemory(as: UInt8.self, repeating: 0) }
        length = UInt8(truncatingIfNeeded: written)
    }

    /// A copy of `bytes`; nil when there are more than `capacity`.
    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count <= Self.capacity else { return nil }
        self.init(count: bytes.count) { _ = $0.initializeMemory(as: UInt8.self, from: bytes) }
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: storage) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }

    /// The bytes as a new array, for callers outside the hot path.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    public static func == (lhs: InlineBytes, rhs: InlineBytes) -> Bool {
        lhs.length == rhs.length && lhs.storage == rhs.storage
    }
}
