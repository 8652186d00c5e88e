import Crypto
import Foundation
import Testing
import UIDProtocol

/// `AESGCMKey` (a BoringSSL context prepared once per key) against swift-crypto's `AES.GCM`: every
/// box one seals, the other opens, with the same layout `IV(12) ‖ ciphertext ‖ tag(16)`.
@Suite struct AESGCMKeyTests {
    static let lengths = Array(0...300) + [1_023, 4_096, 65_537, 1_000_003]

    static func plaintext(_ length: Int, seed: UInt8 = 0) -> [UInt8] {
        (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
    }

    static func keyPair(bytes: Int) throws -> (prepared: AESGCMKey, plain: SymmetricKey) {
        let raw = SecureRandom.bytes(bytes)
        return (try #require(AESGCMKey(raw)), SymmetricKey(data: raw))
    }

    @Test(arguments: [16, 24, 32])
    func preparedBoxesOpenWithSwiftCryptoAndTheOtherWayRound(keyBytes: Int) throws {
        let (prepared, plain) = try Self.keyPair(bytes: keyBytes)
        for length in Self.lengths {
            let message = Self.plaintext(length, seed: UInt8(truncatingIfNeeded: keyBytes))
            let box = try prepared.seal(message)
            #expect(box.count == length + 28)
            let opened = try AES.GCM.open(AES.GCM.SealedBox(combined: box), using: plain)
            #expect(Array(opened) == message, "length \(length)")

            let theirs = try #require(try AES.GCM.seal(message, using: plain).combined)
            #expect(try prepared.open(theirs) == message, "length \(length)")
            #expect(try prepared.openData(theirs) == Data(message), "length \(length)")
            // A slice that does not start at index 0 opens the same.
            let shifted = ([0xEE] + Array(theirs))[1...]
            #expect(try prepared.open(shifted) == message)
        }
    }

    @Test func authenticatedDataIsBoundBothWays() throws {
        let (prepared, plain) = try Self.keyPair(bytes: 32)
        let aad = Array("[1700000000000,\"app\"]".utf8)
        for length in [0, 1, 15, 16, 17, 255] {
            let message = Self.plaintext(length)
            var box = [UInt8]()
            try prepared.seal(message, authenticating: aad, appendingTo: &box)
            #expect(Array(try AES.GCM.open(AES.GCM.SealedBox(combined: box), using: plain, authenticating: aad)) == message)
            #expect(throws: AESGCMBox.Failure.authenticationFailed) { try prepared.open(box) }
            #expect(throws: AESGCMBox.Failure.authenticationFailed) { try prepared.open(box, authenticating: aad + [0]) }

            let theirs = try #require(try AES.GCM.seal(message, using: plain, authenticating: aad).combined)
            #expect(try prepared.open(theirs, authenticating: aad) == message)
        }
    }

    @Test func boxesUseAFreshNonceEachTime() throws {
        let (prepared, _) = try Self.keyPair(bytes: 32)
        let message = Self.plaintext(40)
        let nonces = try (0..<200).map { _ in Array(try prepared.seal(message).prefix(12)) }
        #expect(Set(nonces).count == nonces.count)
    }

    @Test func wrongKeysChangedBytesAndShortBoxesAreRefused() throws {
        let (prepared, _) = try Self.keyPair(bytes: 32)
        let (other, otherPlain) = try Self.keyPair(bytes: 32)
        for length in [0, 1, 16, 90, 300] {
            let message = Self.plaintext(length)
            let box = try prepared.seal(message)
            #expect(throws: AESGCMBox.Failure.authenticationFailed) { try other.open(box) }
            #expect(throws: AESGCMBox.Failure.authenticationFailed) { try other.openData(box) }
            #expect(throws: (any Error).self) { try AES.GCM.open(AES.GCM.SealedBox(combined: box), using: otherPlain) }
            // Every single-bit change, in the IV, the ciphertext or the tag, is refused.
            for index in box.indices {
                var changed = box
                changed[index] ^= 0x01 << UInt8(index % 8)
                #expect(throws: AESGCMBox.Failure.authenticationFailed) { try prepared.open(changed) }
            }
            // Cut short: below IV + tag it is too short, otherwise the tag no longer matches.
            for cut in 1...box.count {
                let truncated = Array(box.dropLast(cut))
                let expected: AESGCMBox.Failure = truncated.count < 28 ? .tooShort : .authenticationFailed
                #expect(throws: expected) { try prepared.open(truncated) }
                #expect(throws: expected) { try prepared.openData(truncated) }
            }
            #expect(throws: AESGCMBox.Failure.authenticationFailed) { try prepared.open(box + [0]) }
        }
        #expect(throws: AESGCMBox.Failure.tooShort) { try prepared.open([UInt8]()) }
    }

    @Test func onlyAESKeyLengthsArePrepared() {
        for length in [0, 1, 15, 17, 23, 25, 31, 33, 64] {
            #expect(AESGCMKey([UInt8](repeating: 7, count: length)) == nil, "\(length)")
        }
        for length in [16, 24, 32] {
            #expect(AESGCMKey([UInt8](repeating: 7, count: length)) != nil, "\(length)")
        }
    }

    @Test func plaintextWrittenInPlaceSealsAfterWhatIsAlreadyThere() throws {
        let (prepared, plain) = try Self.keyPair(bytes: 32)
        let header: [UInt8] = [9, 8, 7, 6, 5]
        var output = header
        try prepared.seal(appendingTo: &output) { text in
            text.append(contentsOf: [1, 2, 3])
            text.append(contentsOf: Self.plaintext(100))
        }
        #expect(Array(output.prefix(5)) == header)
        #expect(output.count == 5 + 103 + 28)
        let opened = try AES.GCM.open(AES.GCM.SealedBox(combined: output.dropFirst(5)), using: plain)
        #expect(Array(opened) == [1, 2, 3] + Self.plaintext(100))

        // Nested boxes (as the advertising token's two layers): each opens with its own key.
        let (inner, _) = try Self.keyPair(bytes: 16)
        var token = header
        try prepared.seal(appendingTo: &token) { outer throws(AESGCMBox.Failure) in
            outer.append(42)
            try inner.seal(appendingTo: &outer) { $0.append(contentsOf: [4, 4, 4]) }
        }
        let outer = try prepared.open(token.dropFirst(5))
        #expect(outer.first == 42 && outer.count == 1 + 3 + 28)
        #expect(try inner.open(outer.dropFirst()) == [4, 4, 4])

        // A writer that throws leaves the output as it was.
        var untouched = header
        #expect(throws: AESGCMBox.Failure.invalidNonce) {
            try prepared.seal(appendingTo: &untouched) { text throws(AESGCMBox.Failure) in
                text.append(contentsOf: [1, 2, 3])
                throw .invalidNonce
            }
        }
        #expect(untouched == header)
    }

    /// One prepared key used from many tasks at once (as the snapshot's keys are): every box
    /// still opens with swift-crypto, and every swift-crypto box with the shared key.
    @Test func oneKeySealsAndOpensFromManyTasksAtOnce() async throws {
        let raw = SecureRandom.bytes(32)
        let prepared = try #require(AESGCMKey(raw))
        let failures = await withTaskGroup(of: Int.self) { group in
            for task in 0..<8 {
                group.addTask {
                    // swift-crypto's key is not Sendable: each task makes its own from the bytes.
                    let plain = SymmetricKey(data: raw)
                    var failures = 0
                    for round in 0..<500 {
                        let message = Self.plaintext((task * 37 + round) % 200, seed: UInt8(truncatingIfNeeded: round))
                        let opened = (try? prepared.seal(message)).flatMap { box in
                            (try? AES.GCM.SealedBox(combined: box)).flatMap { try? AES.GCM.open($0, using: plain) }
                        }
                        let theirs = (try? AES.GCM.seal(message, using: plain))?.combined
                        if opened.map(Array.init) != message || theirs.flatMap({ try? prepared.open($0) }) != message { failures += 1 }
                    }
                    return failures
                }
            }
            return await group.reduce(0, +)
        }
        #expect(failures == 0)
    }

    /// The envelopes through the prepared key read as before: the response envelope opens with
    /// swift-crypto, and a request sealed by swift-crypto opens with the client's prepared key.
    @Test func envelopesAgreeWithSwiftCrypto() throws {
        let (prepared, plain) = try Self.keyPair(bytes: 32)
        let json = Array(#"{"body":{"advertising_token":"x"},"status":"success"}"#.utf8)
        let nonce: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let sealed = try #require(ResponseEnvelope.seal(json: json, nonce: nonce, secret: prepared, nowMillis: 0x0102_0304_0506_0708))
        let opened = Array(try AESGCMBox.open(sealed, key: plain))
        #expect(opened == [1, 2, 3, 4, 5, 6, 7, 8] + nonce + json)
        #expect(Array(try AESGCMBox.open(try #require(ResponseEnvelope.sealWithKeyOnly(json: json, key: plain)), key: plain)) == json)

        let request = try RequestEnvelope.seal(payload: json, timestampMillis: 5_000, nonce: nonce, secret: plain)
        let viaPrepared = try RequestEnvelope.open(body: request, binary: true, secret: prepared, nowMillis: 5_000).get()
        let viaPlain = try RequestEnvelope.open(body: request, binary: true, secret: plain, nowMillis: 5_000).get()
        #expect(viaPrepared == viaPlain && Array(viaPrepared.payload) == json && viaPrepared.nonce == nonce)
        // A plain key of another length opens nothing, after the same framing checks.
        let odd = SymmetricKey(data: [UInt8](repeating: 1, count: 20))
        #expect(RequestEnvelope.open(body: request, binary: true, secret: odd, nowMillis: 5_000) == .failure(.decryptionFailed))
        #expect(RequestEnvelope.open(body: [], binary: false, secret: odd, nowMillis: 5_000) == .failure(.bodyMissing))
        #expect(ResponseEnvelope.seal(json: json, nonce: nonce, secret: odd, nowMillis: 0) == nil)
        #expect(ResponseEnvelope.sealWithKeyOnly(json: json, key: odd) == nil)
    }
}
