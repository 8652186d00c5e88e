import _CryptoExtras
import Crypto
import Foundation

/// AES-CBC/PKCS#5 as used by the legacy V2 token formats (`IV(16) ‖ ciphertext`). Decode only:
/// the operator never emits V2 tokens, but still accepts them.
public enum AESCBCLegacy {
    public static func open<Box: DataProtocol>(_ box: Box, key: SymmetricKey) -> [UInt8]? {
        guard box.count >= 32, (box.count - 16) % 16 == 0 else { return nil }
        let bytes = Array(box)
        guard let iv = try? AES._CBC.IV(ivBytes: bytes[0..<16]),
              let plain = try? AES._CBC.decrypt(bytes[16...], using: key, iv: iv)
        else { return nil }
        return Array(plain)
    }

    /// Test and fuzzing support: produces legacy boxes so decode paths can be exercised.
    public static func seal(_ plaintext: [UInt8], key: SymmetricKey) -> [UInt8]? {
        let iv = AES._CBC.IV()
        guard let sealed = try? AES._CBC.encrypt(plaintext, using: key, iv: iv) else { return nil }
        return withUnsafeBytes(of: iv) { Array($0) } + Array(sealed)
    }
}
