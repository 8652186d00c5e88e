@preconcurrency import Crypto
import Testing
@testable import UIDProtocol

/// Inputs that once stopped the operator (each trapped on the main branch before these fixes):
/// they must end in a decoding error, never a crash.
@Suite struct HostileInputTests {
    static let now: Int64 = 1_750_000_000_000

    /// Found by probing: `now - timestamp` overflowed for timestamps near Int64.min.
    @Test(arguments: [Int64.min, Int64.min + 1, Int64.max, Int64.max - 1, -1, 0])
    func envelopeTimestampsAtTheIntegerLimitsAreStale(timestamp: Int64) throws {
        let secret = SymmetricKey(size: .bits256)
        let sealed = try RequestEnvelope.seal(payload: Array("{}".utf8), timestampMillis: timestamp, nonce: [1, 2, 3, 4, 5, 6, 7, 8], secret: secret)
        for now in [Self.now, Int64.min, Int64.max, 0] {
            // Pairs within a day of each other are the window's business, tested elsewhere.
            if abs(Double(now) - Double(timestamp)) < 86_400_000 { continue }
            let opened = RequestEnvelope.open(body: sealed, binary: true, secret: secret, nowMillis: now)
            guard case .failure(.staleTimestamp) = opened else {
                Issue.record("timestamp \(timestamp) at now \(now): \(opened)")
                continue
            }
        }
    }

    @Test func aWindowAtTheIntegerLimitsStillAnswers() {
        let wide = RequestEnvelope.ClockWindow(maxAgeMillis: Int64.max, maxFutureMillis: Int64.max)
        #expect(wide.accepts(timestamp: Int64.min, now: Int64.max) == false, "the age does not fit in Int64")
        #expect(wide.accepts(timestamp: 0, now: Int64.max))
        #expect(wide.accepts(timestamp: Int64.max, now: 0))
    }

    /// Found by probing: "AA==" is one byte, and the header check read a second.
    @Test(arguments: ["AA==", "QQ==abcd", "QQ==", "AAA=", "A===", "====", "AIA=", "gA==AAAA"])
    func advertisingTokensShorterThanTheirHeaderAreMalformed(text: String) {
        #expect(throws: TokenDecodingError.self) { try AdvertisingToken.decode(text, keys: sampleKeyRing()) }
    }

    /// Found by probing: a V2 refresh token whose identity was under 3 bytes reached a
    /// precondition in the bucket computation. Every first-level hash is 32 bytes.
    @Test(arguments: [0, 1, 2, 3, 16, 31, 33, 64])
    func legacyRefreshTokensWithAnFLHThatIsNot32BytesAreMalformed(length: Int) throws {
        let ring = sampleKeyRing()
        let text = try legacyRefreshToken(identity: Array(repeating: 7, count: length), keyID: 2, ring: ring)
        #expect(throws: TokenDecodingError.malformed) { try RefreshToken.decode(text, keys: ring) }
    }

    /// Master and site keys are downloaded by every DSP and sharer: a refresh token, bare or sealed,
    /// sealed under one of them must not open (it used to, and came back with fresh tokens).
    @Test(arguments: [Int32(1), 3, 4])
    func refreshTokensOpenOnlyUnderRefreshKeys(keyID: Int32) throws {
        let ring = sampleKeyRing()
        let key = try #require(ring.key(id: keyID))
        let v3 = RefreshToken(
            scope: .uid2, type: .email, expiresMillis: 4_000_000_000_000, createdMillis: 1_700_000_000_000,
            publisher: PublisherIdentity(siteID: 999), privacyBits: .generated, establishedMillis: 1_700_000_000_000,
            firstLevelHash: randomSecret()
        ).encodeV3(refreshKey: key)
        #expect(throws: TokenDecodingError.unknownKey(keyID)) { try RefreshToken.decode(v3, keys: ring) }
        let v2 = try legacyRefreshToken(identity: randomSecret(), keyID: keyID, ring: ring)
        #expect(throws: TokenDecodingError.unknownKey(keyID)) { try RefreshToken.decode(v2, keys: ring) }
        let envelope = SealedRefreshToken.seal(refreshToken: v3, responseKey: randomSecret(), scope: .uid2, refreshKey: key)
        #expect(throws: SealedRefreshToken.Failure.unknownKey(keyID)) { try SealedRefreshToken.open(envelope, keys: ring) }
        // The same tokens under the refresh key (id 2) open.
        let genuine = try #require(ring.key(id: 2))
        #expect((try? RefreshToken.decode(try legacyRefreshToken(identity: randomSecret(), keyID: 2, ring: ring), keys: ring)) != nil)
        #expect((try? SealedRefreshToken.open(SealedRefreshToken.seal(refreshToken: v3, responseKey: randomSecret(), scope: .uid2, refreshKey: genuine), keys: ring)) != nil)
    }

    @Test func bucketIndexIsTotal() {
        #expect(HashChain.bucketIndex(firstLevelHash: [], bucketCount: 5) == 0)
        #expect(HashChain.bucketIndex(firstLevelHash: [0xFF], bucketCount: 1 << 20) == 0xFF000)
        #expect(HashChain.bucketIndex(firstLevelHash: Array(repeating: 1, count: 32), bucketCount: 0) == 0)
    }

    /// Randomness is opened at start-up (`serve` calls `prepare()` first) and never traps; bytes
    /// keep coming from the buffered source and from the unbuffered path for large requests.
    @Test func secureRandomPreparesAndFills() throws {
        try SecureRandom.prepare()
        let small = (0..<64).map { _ in SecureRandom.bytes(16) }
        #expect(Set(small).count == small.count)
        let large = SecureRandom.bytes(5_000)
        #expect(large.count == 5_000 && Set(large).count > 200)
        #expect(SecureRandom.bytes(0).isEmpty && SecureRandom.bytes(-5).isEmpty)
    }
}
