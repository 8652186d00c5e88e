import Crypto
import Foundation
import Testing
import UIDProtocol

/// The pieces the benchmark work replaced: buffered randomness, the contiguous base64 loop, and
/// the client-side envelope seal the load generator uses.
@Suite struct RequestPathPrimitivesTests {
    @Test func secureRandomHandsOutFreshBytesAcrossRefills() {
        // 4 KiB per refill: 300 draws of 40 bytes cross several refills.
        var seen = Set<[UInt8]>()
        for _ in 0..<300 {
            let bytes = SecureRandom.bytes(40)
            #expect(bytes.count == 40)
            seen.insert(bytes)
        }
        #expect(seen.count == 300)
        // Requests larger than a quarter of the buffer go straight to the kernel.
        let large = SecureRandom.bytes(5_000)
        #expect(large.count == 5_000)
        #expect(Set(large).count > 200)
    }

    @Test func base64OfContiguousAndOtherCollectionsAgree() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let lazy = bytes.lazy.map { $0 }
            #expect(Base64.encode(bytes) == Base64.encode(lazy))
            #expect(Base64.encode(bytes, alphabet: .url) == Base64.encode(lazy, alphabet: .url))
            #expect(Base64.encode(bytes) == Data(bytes).base64EncodedString())
        }
    }

    @Test func aClientSealedEnvelopeOpensWithItsPayloadAndNonce() throws {
        let secret = SymmetricKey(size: .bits256)
        let nonce: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let sealed = try RequestEnvelope.seal(payload: Array(#"{"email":"a@b.c"}"#.utf8), timestampMillis: 1_000_000, nonce: nonce, secret: secret)
        #expect(sealed[0] == 1)
        let opened = try RequestEnvelope.open(body: Array(Base64.encode(sealed).utf8), binary: false, secret: secret, nowMillis: 1_000_500).get()
        #expect(opened.nonce == nonce)
        #expect(opened.timestampMillis == 1_000_000)
        #expect(String(decoding: opened.payload, as: UTF8.self) == #"{"email":"a@b.c"}"#)
        // Two seals of the same payload differ: each draws its own AES-GCM nonce.
        let again = try RequestEnvelope.seal(payload: Array(#"{"email":"a@b.c"}"#.utf8), timestampMillis: 1_000_000, nonce: nonce, secret: secret)
        #expect(again != sealed)
    }
}
