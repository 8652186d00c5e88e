internal import CCryptoBoringSSL

/// SHA-512 of a salt followed by a message through BoringSSL's `SHA512_*` with its context on the
/// stack, for the API key check every keyed request makes.
///
/// Why not `Crypto.SHA512`: on Linux it keeps its state in a class, allocated by `init` and copied
/// again by `finalize`, and the key had to be copied into an array first. This calls the BoringSSL
/// that swift-crypto vendors and itself uses for `SHA512`; it is not a SHA-512 of our own.
public enum OneShotSHA512 {
    public static let byteCount = 64

    /// SHA-512(`prefix` ‖ `message`) as a new 64-byte array: the one allocation is the array itself.
    public static func hash(_ prefix: UnsafeRawBufferPointer, _ message: UnsafeRawBufferPointer) -> [UInt8] {
        var context = SHA512_CTX()
        _ = CCryptoBoringSSL_SHA512_Init(&context)
        // BoringSSL reads nothing for a zero length, but is given no null pointer either way.
        if let base = prefix.baseAddress, prefix.count > 0 { _ = CCryptoBoringSSL_SHA512_Update(&context, base, prefix.count) }
        if let base = message.baseAddress, message.count > 0 { _ = CCryptoBoringSSL_SHA512_Update(&context, base, message.count) }
        return [UInt8](unsafeUninitializedCapacity: byteCount) { buffer, initialized in
            guard let output = buffer.baseAddress, buffer.count >= byteCount else { return }
            _ = CCryptoBoringSSL_SHA512_Final(output, &context)
            initialized = byteCount
        }
    }
}
