import Crypto
import Foundation

/// AES-GCM in the reference's serialisation: `IV(12) ‖ ciphertext ‖ tag(16)`, no AAD unless given,
/// through swift-crypto's `AES.GCM` (a context built per call): for keys used once or off the
/// request path. Keys loaded into the snapshot use `AESGCMKey`, which writes the same boxes.
public enum AESGCMBox {
    public static let overhead = 12 + 16

    public enum Failure: Error, Sendable {
        case invalidKey
        case tooShort
        case authenticationFailed
        case invalidNonce
    }

    /// Seals `plaintext` and appends the serialised box to `output`.
    public static func seal<Plaintext: DataProtocol>(
        _ plaintext: Plaintext, key: SymmetricKey, appendingTo output: inout [UInt8]
    ) throws(Failure) {
        try sealedCombined(plaintext, key: key).withUnsafeBytes { output.append(contentsOf: $0) }
    }

    /// The serialised box as swift-crypto returns it (`IV ‖ ciphertext ‖ tag`, one buffer).
    private static func sealedCombined<Plaintext: DataProtocol>(_ plaintext: Plaintext, key: SymmetricKey) throws(Failure) -> Data {
        // A 12-byte nonce always has a combined form; reading the box's nonce, ciphertext and tag
        // one by one would build three more buffers.
        guard let combined = try? AES.GCM.seal(plaintext, using: key, nonce: randomNonce()).combined else { throw .invalidKey }
        return combined
    }

    public static func seal<Plaintext: DataProtocol, AAD: DataProtocol>(
        _ plaintext: Plaintext, key: SymmetricKey, authenticating aad: AAD, appendingTo output: inout [UInt8]
    ) throws(Failure) {
        guard let combined = try? AES.GCM.seal(plaintext, using: key, nonce: randomNonce(), authenticating: aad).combined else {
            throw .invalidKey
        }
        // From the raw bytes: appending the `Data` itself went through its iterator (1.2 % of generate).
        combined.withUnsafeBytes { output.append(contentsOf: $0) }
    }

    /// From `SecureRandom`: swift-crypto's own nonces cost two system calls each.
    private static func randomNonce() -> AES.GCM.Nonce {
        // Twelve bytes always make a nonce; swift-crypto's own is the fallback, never a trap.
        (try? AES.GCM.Nonce(data: SecureRandom.bytes(12))) ?? AES.GCM.Nonce()
    }

    public static func seal<Plaintext: DataProtocol>(_ plaintext: Plaintext, key: SymmetricKey) throws(Failure) -> [UInt8] {
        var output = [UInt8]()
        output.reserveCapacity(plaintext.count + overhead)
        try seal(plaintext, key: key, appendingTo: &output)
        return output
    }

    public static func open<Box: DataProtocol>(_ box: Box, key: SymmetricKey) throws(Failure) -> Data {
        try open(box, key: key, authenticating: [UInt8]())
    }

    public static func open<Box: DataProtocol, AAD: DataProtocol>(
        _ box: Box, key: SymmetricKey, authenticating aad: AAD
    ) throws(Failure) -> Data {
        guard box.count >= overhead else { throw .tooShort }
        do {
            // Our layout is swift-crypto's combined one (12-byte IV first): one copy, not three.
            let sealed = try AES.GCM.SealedBox(combined: box)
            return try AES.GCM.open(sealed, using: key, authenticating: aad)
        } catch {
            throw .authenticationFailed
        }
    }
}

extension SymmetricKey {
    /// AES accepts 16, 24 and 32-byte keys; anything else is a configuration error, not a crash.
    public static func aes<Bytes: ContiguousBytes>(_ bytes: Bytes) -> SymmetricKey? {
        let key = SymmetricKey(data: bytes)
        return [128, 192, 256].contains(key.bitCount) ? key : nil
    }
}
