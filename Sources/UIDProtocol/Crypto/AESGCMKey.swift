internal import CCryptoBoringSSL
import Foundation

/// An AES-GCM key whose BoringSSL AEAD context (key schedule and GHASH tables) is prepared once,
/// when the key is loaded, instead of on every seal and open as swift-crypto's `AES.GCM` does (that
/// was about a tenth of a token/generate). Boxes are the same as `AESGCMBox`'s:
/// `IV(12) ‖ ciphertext ‖ tag(16)`, the IV from `SecureRandom`.
///
/// This calls swift-crypto's vendored BoringSSL (`EVP_aead_aes_*_gcm`); it implements nothing of
/// the cipher itself.
///
/// Thread safety: the context is written only by `init` and `deinit`. BoringSSL's seal and open take
/// it as `const EVP_AEAD_CTX *`, and its header (`CCryptoBoringSSL_aead.h`) says of
/// `EVP_AEAD_CTX_seal`, `_open`, `_seal_scatter` and `_open_gather`: "This function may be called
/// concurrently with itself or any other seal/open function on the same |EVP_AEAD_CTX|." So one
/// key may be used from many threads at once, without locking.
public final class AESGCMKey: @unchecked Sendable {
    public static let nonceLength = 12
    public static let tagLength = 16
    public static let overhead = nonceLength + tagLength

    private let context: UnsafeMutablePointer<EVP_AEAD_CTX>

    /// A 16, 24 or 32-byte AES key; nil for any other length (as `SymmetricKey.aes`).
    public init?<Key: ContiguousBytes>(_ key: Key) {
        let context = UnsafeMutablePointer<EVP_AEAD_CTX>.allocate(capacity: 1)
        CCryptoBoringSSL_EVP_AEAD_CTX_zero(context)
        let prepared = key.withUnsafeBytes { raw -> Bool in
            guard let aead = Self.aead(keyLength: raw.count), let base = raw.baseAddress else { return false }
            return CCryptoBoringSSL_EVP_AEAD_CTX_init(
                context, aead, base.assumingMemoryBound(to: UInt8.self), raw.count, Self.tagLength, nil
            ) == 1
        }
        guard prepared else {
            CCryptoBoringSSL_EVP_AEAD_CTX_cleanup(context)
            context.deallocate()
            return nil
        }
        self.context = context
    }

    deinit {
        // BoringSSL's AES-GCM cleanup leaves the key schedule in the context: wiped before the memory is freed.
        CCryptoBoringSSL_EVP_AEAD_CTX_cleanup(context)
        UnsafeMutableRawPointer(context).initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<EVP_AEAD_CTX>.size)
        context.deallocate()
    }

    private static func aead(keyLength: Int) -> OpaquePointer? {
        switch keyLength {
        case 16: CCryptoBoringSSL_EVP_aead_aes_128_gcm()
        case 24: CCryptoBoringSSL_EVP_aead_aes_192_gcm()
        case 32: CCryptoBoringSSL_EVP_aead_aes_256_gcm()
        default: nil
        }
    }

    // MARK: Sealing

    /// Appends the box of `plaintext` to `output`.
    public func seal<Plaintext: ContiguousBytes>(_ plaintext: Plaintext, appendingTo output: inout [UInt8]) throws(AESGCMBox.Failure) {
        try seal(plaintext, authenticating: [UInt8](), appendingTo: &output)
    }

    public func seal<Plaintext: ContiguousBytes, AAD: ContiguousBytes>(
        _ plaintext: Plaintext, authenticating aad: AAD, appendingTo output: inout [UInt8]
    ) throws(AESGCMBox.Failure) {
        let start = output.count
        let sealed = plaintext.withUnsafeBytes { input in
            // The plaintext is written in place after the IV, then sealed there (BoringSSL allows
            // `in == out`): one copy, no plaintext buffer of our own.
            output.append(contentsOf: repeatElement(0, count: Self.nonceLength))
            output.append(contentsOf: UnsafeBufferPointer(start: input.baseAddress?.assumingMemoryBound(to: UInt8.self), count: input.count))
            return sealAppended(&output, boxStart: start, aad: aad)
        }
        guard sealed else { throw .invalidKey }
    }

    /// Appends a box whose plaintext `writePlaintext` appends to the array it is given (and must
    /// only append): callers that assemble their plaintext from parts write it straight into the
    /// box, with no buffer of its own. If `writePlaintext` throws, `output` is left as it was.
    public func seal(
        appendingTo output: inout [UInt8], plaintext writePlaintext: (inout [UInt8]) throws(AESGCMBox.Failure) -> Void
    ) throws(AESGCMBox.Failure) {
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: Self.nonceLength))
        do {
            try writePlaintext(&output)
        } catch {
            if start <= output.count { output.removeSubrange(start...) }
            throw error
        }
        guard sealAppended(&output, boxStart: start, aad: [UInt8]()) else { throw .invalidKey }
    }

    /// The box of `plaintext` as a new array.
    public func seal<Plaintext: ContiguousBytes>(_ plaintext: Plaintext) throws(AESGCMBox.Failure) -> [UInt8] {
        var output = [UInt8]()
        try seal(plaintext, appendingTo: &output)
        return output
    }

    /// `output[boxStart...]` holds an IV's room and the plaintext: writes the IV, encrypts the
    /// plaintext in place and appends the tag. On failure `output` is cut back to `boxStart`.
    private func sealAppended<AAD: ContiguousBytes>(_ output: inout [UInt8], boxStart: Int, aad: AAD) -> Bool {
        let plaintextStart = boxStart + Self.nonceLength
        guard boxStart >= 0, plaintextStart <= output.count else {
            if boxStart >= 0, boxStart <= output.count { output.removeSubrange(boxStart...) }
            return false
        }
        let plaintextLength = output.count - plaintextStart
        output.append(contentsOf: repeatElement(0, count: Self.tagLength))
        let sealed = aad.withUnsafeBytes { aadBytes in
            output.withUnsafeMutableBytes { buffer -> Bool in
                let box = UnsafeMutableRawBufferPointer(rebasing: buffer[boxStart...])
                guard let base = box.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
                SecureRandom.fill(UnsafeMutableRawBufferPointer(rebasing: box[..<Self.nonceLength]))
                let text = base + Self.nonceLength
                var written = 0
                let status = CCryptoBoringSSL_EVP_AEAD_CTX_seal(
                    context, text, &written, plaintextLength + Self.tagLength,
                    base, Self.nonceLength,
                    text, plaintextLength,
                    aadBytes.baseAddress?.assumingMemoryBound(to: UInt8.self), aadBytes.count
                )
                return status == 1 && written == plaintextLength + Self.tagLength
            }
        }
        if !sealed { output.removeSubrange(boxStart...) }
        return sealed
    }

    // MARK: Opening

    /// The plaintext of `box`; `.tooShort` for fewer bytes than an IV and a tag,
    /// `.authenticationFailed` for any box this key did not seal (or whose bytes were changed).
    public func open<Box: ContiguousBytes>(_ box: Box) throws(AESGCMBox.Failure) -> [UInt8] {
        try open(box, authenticating: [UInt8]())
    }

    public func open<Box: ContiguousBytes, AAD: ContiguousBytes>(_ box: Box, authenticating aad: AAD) throws(AESGCMBox.Failure) -> [UInt8] {
        var failure = AESGCMBox.Failure.authenticationFailed
        let plain = box.withUnsafeBytes { sealed -> [UInt8]? in
            guard sealed.count >= Self.overhead else {
                failure = .tooShort
                return nil
            }
            let length = sealed.count - Self.overhead
            var opened = false
            let plain = [UInt8](unsafeUninitializedCapacity: length) { storage, initialized in
                opened = self.open(sealed, aad: aad, into: UnsafeMutableRawBufferPointer(storage))
                // BoringSSL zero-fills the output when it refuses, so every byte is initialised either way.
                initialized = length
            }
            return opened ? plain : nil
        }
        guard let plain else { throw failure }
        return plain
    }

    /// As `open`, into a `Data` (the request envelope's payload is handed to Foundation's JSON readers).
    public func openData<Box: ContiguousBytes>(_ box: Box) throws(AESGCMBox.Failure) -> Data {
        var failure = AESGCMBox.Failure.authenticationFailed
        let plain = box.withUnsafeBytes { sealed -> Data? in
            guard sealed.count >= Self.overhead else {
                failure = .tooShort
                return nil
            }
            var plain = Data(count: sealed.count - Self.overhead)
            let opened = plain.withUnsafeMutableBytes { self.open(sealed, aad: [UInt8](), into: $0) }
            return opened ? plain : nil
        }
        guard let plain else { throw failure }
        return plain
    }

    /// Opens `sealed` (at least `overhead` bytes) into `output`, which holds exactly its plaintext's length.
    private func open<AAD: ContiguousBytes>(_ sealed: UnsafeRawBufferPointer, aad: AAD, into output: UnsafeMutableRawBufferPointer) -> Bool {
        guard sealed.count >= Self.overhead, output.count == sealed.count - Self.overhead,
              let base = sealed.baseAddress?.assumingMemoryBound(to: UInt8.self)
        else { return false }
        let textLength = output.count
        let tag = base + Self.nonceLength + textLength
        // An empty plaintext may come with no buffer at all; BoringSSL writes nothing then, but wants a pointer.
        var spare: UInt8 = 0
        return withUnsafeMutablePointer(to: &spare) { spare in
            let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? spare
            return aad.withUnsafeBytes { aadBytes in
                CCryptoBoringSSL_EVP_AEAD_CTX_open_gather(
                    context, out, base, Self.nonceLength,
                    base + Self.nonceLength, textLength,
                    tag, Self.tagLength,
                    aadBytes.baseAddress?.assumingMemoryBound(to: UInt8.self), aadBytes.count
                ) == 1
            }
        }
    }
}
