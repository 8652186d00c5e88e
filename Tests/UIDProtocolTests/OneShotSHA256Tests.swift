import Crypto
import Testing
@testable import UIDProtocol

/// `OneShotSHA256` against swift-crypto's `SHA256`, which it replaces on the identity-map path.
@Suite struct OneShotSHA256Tests {
    @Test func matchesCryptoSHA256ForEveryLengthUpTo300() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...300 {
            let data = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let expected = Array(SHA256.hash(data: data))
            let oneShot = data.withUnsafeBytes { OneShotSHA256.hash($0) }
            #expect(oneShot == expected, "length \(length)")
        }
    }

    @Test func knownDigestOfTheEmptyInput() {
        let empty = OneShotSHA256.hash(UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(Base64.encode(empty) == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
    }

    @Test func writesIntoACallersBufferAndNothingIntoAShortOne() {
        let data = Array("jane.doe@example.com".utf8)
        var output = [UInt8](repeating: 0xAA, count: 40)
        output.withUnsafeMutableBytes { out in data.withUnsafeBytes { OneShotSHA256.hash($0, into: out) } }
        #expect(Array(output[0..<32]) == Array(SHA256.hash(data: data)))
        #expect(output[32...].allSatisfy { $0 == 0xAA })

        var short = [UInt8](repeating: 0xAA, count: 31)
        short.withUnsafeMutableBytes { out in data.withUnsafeBytes { OneShotSHA256.hash($0, into: out) } }
        #expect(short.allSatisfy { $0 == 0xAA })
    }

    @Test func saltedHashMatchesTheChainDefinition() {
        var generator = SystemRandomNumberGenerator()
        for saltLength in [0, 1, 44, 63, 64, 200] {
            let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let salt = (0..<saltLength).map { _ in UInt8.random(in: 0x21...0x7E, using: &generator) }
            let expected = Array(SHA256.hash(data: Array(Base64.encode(bytes).utf8) + salt))
            #expect(HashChain.saltedHash(bytes, salt: salt) == expected, "salt length \(saltLength)")
        }
    }
}
