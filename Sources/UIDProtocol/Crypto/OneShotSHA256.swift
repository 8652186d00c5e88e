internal import CCryptoBoringSSL

/// SHA-256 of one contiguous buffer through BoringSSL's one-shot `SHA256`, with nothing on the heap.
///
/// Why not `Crypto.SHA256`: on Linux it keeps its state in a class, allocated by `init` and copied
/// again by `finalize`, and an identity map hashes three or four times per identity. This calls the
/// BoringSSL that swift-crypto vendors and itself uses for `SHA256`; it is not a SHA-256 of our own.
/// Callers build the input in a stack buffer (`withUnsafeTemporaryAllocation`) and hash it here.
public enum OneShotSHA256 {
    public static let byteCount = 32

    /// Writes SHA-256(`data`) into the first 32 bytes of `digest`; writes nothing when `digest` is shorter.
    public static func hash(_ data: UnsafeRawBufferPointer, into digest: UnsafeMutableRawBufferPointer) {
        guard digest.count >= byteCount, let output = digest.baseAddress else { return }
        let bytes = output.bindMemory(to: UInt8.self, capacity: byteCount)
        guard let input = data.baseAddress, data.count > 0 else {
            // BoringSSL accepts a null pointer only with a zero length: give it an empty, valid one.
            var nothing: UInt8 = 0
            _ = CCryptoBoringSSL_SHA256(&nothing, 0, bytes)
            return
        }
        _ = CCryptoBoringSSL_SHA256(input.assumingMemoryBound(to: UInt8.self), data.count, bytes)
    }

    /// SHA-256(`data`) as a new 32-byte array: the one allocation is the array itself.
    public static func hash(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: byteCount) { buffer, initialized in
            hash(data, into: UnsafeMutableRawBufferPointer(buffer))
            initialized = byteCount
        }
    }

    /// SHA-256(`data`) held inline: nothing on the heap at all.
    public static func digest(_ data: UnsafeRawBufferPointer) -> InlineBytes {
        InlineBytes(count: byteCount) { hash(data, into: $0) }
    }
}
