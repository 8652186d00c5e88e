import Crypto
import Testing
import UIDProtocol
@testable import UIDOperatorCore

/// `OneShotSHA512` against swift-crypto's `SHA512`, which it replaces in the API key check.
@Suite struct OneShotSHA512Tests {
    private static func reference(_ prefix: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var hasher = SHA512()
        hasher.update(data: prefix)
        hasher.update(data: message)
        return Array(hasher.finalize())
    }

    @Test func matchesCryptoSHA512ForEverySplitOfLengthsUpTo300() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...300 {
            let data = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            for split in Set([0, length / 3, length / 2, length]) {
                let prefix = Array(data[..<split]), message = Array(data[split...])
                let oneShot = prefix.withUnsafeBytes { p in message.withUnsafeBytes { m in OneShotSHA512.hash(p, m) } }
                #expect(oneShot == Self.reference(prefix, message), "length \(length), split \(split)")
            }
        }
    }

    @Test func crossesTheBlockBoundaryAtEveryOffsetWithASaltSizedPrefix() {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        for length in [100, 111, 112, 127, 128, 129, 255, 256, 257, 1_000, 10_000] {
            let message = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let oneShot = salt.withUnsafeBytes { p in message.withUnsafeBytes { m in OneShotSHA512.hash(p, m) } }
            #expect(oneShot == Self.reference(salt, message), "length \(length)")
        }
    }

    @Test func knownDigestOfTheEmptyInput() {
        let empty = OneShotSHA512.hash(UnsafeRawBufferPointer(start: nil, count: 0), UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(Base64.encode(empty) == Base64.encode(Array(SHA512.hash(data: [UInt8]()))))
        #expect(empty.count == 64)
    }

    /// The API key hash as it was computed before (swift-crypto's `SHA512` over salt ‖ key's UTF-8),
    /// for ASCII keys of every length up to 200, non-ASCII keys and empty inputs.
    @Test func apiKeyHashMatchesTheSwiftCryptoComputation() {
        var generator = SystemRandomNumberGenerator()
        var keys = ["", "UID2-C-L-999-fCXrMM.fsR3mDqAXELtWWMS+xG1s7RdgRTMqdOH2qaAo=", "clé-ünïcode-🔑", "\u{0}nul"]
        for length in 0...200 {
            keys.append(String((0..<length).map { _ in Character(Unicode.Scalar(UInt8.random(in: 0x21...0x7E, using: &generator))) }))
        }
        for key in keys {
            for saltLength in [0, 32] {
                let salt = (0..<saltLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
                #expect(APIKeyHasher.hash(key: key, salt: salt) == Self.reference(salt, Array(key.utf8)), "\(key)")
            }
        }
    }
}
