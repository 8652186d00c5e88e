@preconcurrency import Crypto
import Foundation
import Testing
@testable import UIDProtocol

@Suite struct TokenTests {
    /// docs/TEST-VECTORS.md#cross-sdk-advertising-token: a V4 token produced by another SDK must decode to its raw UID.
    @Test func decodesCrossSDKToken() throws {
        let master: [UInt8] = [139, 37, 241, 173, 18, 92, 36, 232, 165, 168, 23, 18, 38, 195, 123, 92, 160, 136, 185, 40, 91, 173, 165, 221, 168, 16, 169, 164, 38, 139, 8, 155]
        let site: [UInt8] = [32, 251, 7, 194, 132, 154, 250, 86, 202, 116, 104, 29, 131, 192, 139, 215, 48, 164, 11, 65, 226, 110, 167, 14, 108, 51, 254, 125, 65, 24, 23, 133]
        let ring = try KeyRing(
            keysets: [
                Keyset(id: -1, siteID: -1, name: "m", allowedSites: nil, createdSeconds: 0, enabled: true, isDefault: true),
                Keyset(id: 99, siteID: 9000, name: "s", allowedSites: nil, createdSeconds: 0, enabled: true, isDefault: true),
            ],
            keys: [key(id: 164, keyset: -1, secret: master), key(id: 165, keyset: 99, secret: site)]
        )
        let text = "AIAAAACkOqJj9VoxXJNnuX3v-ymceRf8_Av0vA5asOj9YBZJc1kV1vHdmb0AIjlzWnFF-gxIlgXqhRFhPo3iXpugPBl3gv4GKnGkw-Zgm2QqMsDPPLpMCYiWrIUqHPm8hQiq9PuTU-Ba9xecRsSIAN0WCwKLwA_EDVdzmnLJu64dQoeYmuu3u1G2EuTkuMrevmP98tJqSUePKwnfK73-0Zdshw"
        let token = try AdvertisingToken.decode(text, keys: ring)
        #expect(Base64.encode(token.rawUID) == "ywsvDNINiZOVSsfkHpLpSJzXzhr6Jx9Z/4Q0+lsEUvM=")
        #expect(token.version == .v4)
        #expect(token.masterKeyID == 164 && token.siteKeyID == 165)
        #expect(token.expiresMillis > 1_672_534_861_000)
    }

    func sampleToken(rawUID: [UInt8], scope: IdentityScope = .uid2, type: IdentityType = .email) -> AdvertisingToken {
        AdvertisingToken(scope: scope, type: type, expiresMillis: 1_700_000_100_000, createdMillis: 1_700_000_000_000,
                         publisher: PublisherIdentity(siteID: 999), privacyBits: .generated,
                         establishedMillis: 1_690_000_000_000, refreshedMillis: 1_700_000_000_000, rawUID: rawUID)
    }

    @Test(arguments: [(IdentityScope.uid2, IdentityType.email, "A4"), (.uid2, .phone, "B4"), (.euid, .email, "E4"), (.euid, .phone, "F4")])
    func v4RoundTripAndPrefix(scope: IdentityScope, type: IdentityType, prefix: String) throws {
        let ring = sampleKeyRing()
        let uid = [identityPrefix(scope: scope, type: type)] + randomSecret()
        let original = sampleToken(rawUID: uid, scope: scope, type: type)
        let text = original.encodeV4(masterKey: ring.key(id: 1)!, siteKey: ring.key(id: 4)!)
        #expect(text.count == 219)
        #expect(text.hasPrefix(prefix))
        #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
        var decoded = try AdvertisingToken.decode(text, keys: ring)
        #expect(decoded.masterKeyID == 1 && decoded.siteKeyID == 4)
        decoded.masterKeyID = 0
        decoded.siteKeyID = 0
        #expect(decoded == original)
    }

    @Test func v2RawUIDTokenIs218CharactersAndV3DecodesToo() throws {
        let ring = sampleKeyRing()
        let original = sampleToken(rawUID: randomSecret())
        #expect(original.encodeV4(masterKey: ring.key(id: 1)!, siteKey: ring.key(id: 4)!).count == 218)
        let v3 = Base64.encode(original.encodeBinary(version: .v3, masterKey: ring.key(id: 1)!, siteKey: ring.key(id: 4)!))
        #expect(v3.count == 220)
        #expect(try AdvertisingToken.decode(v3, keys: ring).rawUID == original.rawUID)
        #expect(try AdvertisingToken.decode(v3, keys: ring).version == .v3)
    }

    @Test func decodesLegacyV2AdvertisingToken() throws {
        let ring = sampleKeyRing()
        let uid = randomSecret()
        var site = [UInt8]()
        site.appendBigEndian(Int32(999))
        let uidText = Array(Base64.encode(uid).utf8)
        site.appendBigEndian(Int32(uidText.count))
        site += uidText
        site.appendBigEndian(Int32(1))
        site.appendBigEndian(Int64(1_690_000_000_000))
        var master = [UInt8]()
        master.appendBigEndian(Int64(1_700_000_100_000))
        master.appendBigEndian(Int32(4))
        master += AESCBCLegacy.seal(site, key: ring.key(id: 4)!.symmetricKey)!
        var token: [UInt8] = [2]
        token.appendBigEndian(Int32(1))
        token += AESCBCLegacy.seal(master, key: ring.key(id: 1)!.symmetricKey)!
        let decoded = try AdvertisingToken.decode(Base64.encode(token), keys: ring)
        #expect(decoded.version == .v2 && decoded.rawUID == uid && decoded.publisher.siteID == 999)
        #expect(decoded.expiresMillis == 1_700_000_100_000 && decoded.establishedMillis == 1_690_000_000_000)
    }

    @Test func rejectsTamperedAndForeignTokens() {
        let ring = sampleKeyRing()
        let text = sampleToken(rawUID: randomSecret()).encodeV4(masterKey: ring.key(id: 1)!, siteKey: ring.key(id: 4)!)
        var bytes = Base64.decode(text, alphabet: .url)!
        bytes[40] ^= 1
        #expect(throws: TokenDecodingError.decryptionFailed) { try AdvertisingToken.decode(Base64.encode(bytes, alphabet: .url), keys: ring) }
        #expect(throws: TokenDecodingError.self) { try AdvertisingToken.decode("abc", keys: ring) }
        #expect(throws: TokenDecodingError.self) { try AdvertisingToken.decode("!!!!!!!!", keys: ring) }
        #expect(throws: TokenDecodingError.decryptionFailed, "same key ids, other secrets") {
            _ = try AdvertisingToken.decode(text, keys: sampleKeyRing())
        }
        #expect(throws: TokenDecodingError.unknownKey(1)) { _ = try AdvertisingToken.decode(text, keys: try KeyRing(keysets: [], keys: [])) }
        // Every truncation is an error, never a crash.
        for length in 0..<text.count {
            #expect(throws: TokenDecodingError.self) { try AdvertisingToken.decode(String(text.prefix(length)), keys: ring) }
        }
    }

    @Test func scopeMismatchBetweenHeaderAndRawUIDIsInvalid() {
        let ring = sampleKeyRing()
        let uid = [identityPrefix(scope: .euid, type: .email)] + randomSecret()
        let text = sampleToken(rawUID: uid, scope: .uid2).encodeV4(masterKey: ring.key(id: 1)!, siteKey: ring.key(id: 4)!)
        #expect(throws: TokenDecodingError.scopeOrTypeMismatch) { try AdvertisingToken.decode(text, keys: ring) }
    }

    func sampleRefresh(scope: IdentityScope = .euid, type: IdentityType = .phone) -> RefreshToken {
        RefreshToken(scope: scope, type: type, expiresMillis: 1_702_592_000_000, createdMillis: 1_700_000_000_000,
                     publisher: PublisherIdentity(siteID: 999), privacyBits: .clientSideGenerated,
                     establishedMillis: 1_690_000_000_000, firstLevelHash: randomSecret())
    }

    @Test func refreshTokenV3RoundTrip() throws {
        let ring = sampleKeyRing()
        let original = sampleRefresh()
        let text = original.encodeV3(refreshKey: ring.key(id: 2)!)
        #expect(text.count == RefreshToken.v3TextLength)
        #expect(try RefreshToken.decode(text, keys: ring) == original)
        var bytes = Base64.decode(text)!
        bytes[60] ^= 0x80
        #expect(throws: TokenDecodingError.decryptionFailed) { try RefreshToken.decode(Base64.encode(bytes), keys: ring) }
        for length in 0..<(text.count - 2) {  // the last two characters are padding
            #expect(throws: TokenDecodingError.self) { try RefreshToken.decode(String(text.prefix(length)), keys: ring) }
        }
    }

    @Test func decodesLegacyV2RefreshToken() throws {
        let ring = sampleKeyRing()
        let flh = randomSecret()
        let token = try legacyRefreshToken(identity: flh, keyID: 2, ring: ring, validTillMillis: 1_700_000_160_000)
        let decoded = try RefreshToken.decode(token, keys: ring)
        #expect(decoded.version == .v2 && decoded.firstLevelHash == flh && decoded.expiresMillis == 1_700_000_160_000)
        #expect(decoded.scope == .uid2 && decoded.type == .email && decoded.publisher.siteID == 999)
    }

    @Test(arguments: IdentityScope.allCases)
    func sealedRefreshTokenIs388CharactersAndOpens(scope: IdentityScope) throws {
        let ring = sampleKeyRing()
        let token = sampleRefresh(scope: scope).encodeV3(refreshKey: ring.key(id: 2)!)
        let responseKey = randomSecret()
        let envelope = SealedRefreshToken.seal(refreshToken: token, responseKey: responseKey, scope: scope, refreshKey: ring.key(id: 2)!)
        #expect(envelope.count == SealedRefreshToken.textLength)
        #expect(Base64.decode(envelope)![0] == scope.rawValue << 4)
        let contents = try SealedRefreshToken.open(envelope, keys: ring)
        #expect(contents.refreshToken == token && contents.responseKey.withUnsafeBytes { Array($0) } == responseKey)
        var bytes = Base64.decode(envelope)!
        bytes[100] ^= 1
        #expect(throws: SealedRefreshToken.Failure.decryptionFailed) { try SealedRefreshToken.open(Base64.encode(bytes), keys: ring) }
        bytes[1...4] = [0, 0, 0, 77]
        #expect(throws: SealedRefreshToken.Failure.unknownKey(77)) { try SealedRefreshToken.open(Base64.encode(bytes), keys: ring) }
        #expect(throws: SealedRefreshToken.Failure.notBase64) { try SealedRefreshToken.open(String(repeating: "!", count: 388), keys: ring) }
    }

    /// The fast reading of `seal`'s own layout answers as the JSON parser does, and declines
    /// (leaving it to the parser) whatever it cannot read exactly.
    @Test func sealedPayloadFastReadingAgreesWithTheJSONParser() {
        let key = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=", token = "AAAAA+b/cd=="
        let compact = #"{"refresh_response_key":"\#(key)","refresh_token":"\#(token)"}"#
        let readable: [String] = [
            compact,
            #"{"refresh_response_key":"","refresh_token":""}"#,
        ]
        let declined: [String] = [
            #"{"refresh_token":"\#(token)","refresh_response_key":"\#(key)"}"#,
            #"{ "refresh_response_key": "\#(key)", "refresh_token": "\#(token)" }"#,
            #"{"refresh_response_key":"\#(key)","refresh_token":"AA\/b"}"#,
            #"{"refresh_response_key":"\#(key)","refresh_token":"AA\"b"}"#,
            #"{"refresh_response_key":"\#(key)","refresh_token":"é"}"#,
            "{\"refresh_response_key\":\"\(key)\",\"refresh_token\":\"a\tb\"}",
            #"{"refresh_response_key":"\#(key)","refresh_token":"\#(token)","x":1}"#,
            #"{"refresh_response_key":"\#(key)","refresh_token":"\#(token)""#,
            #"{"refresh_response_key":"\#(key)""#,
            "",
        ]
        for text in readable {
            let fast = SealedRefreshToken.compactFields(Data(text.utf8)), parsed = SealedRefreshToken.jsonFields(Data(text.utf8))
            #expect(fast != nil && fast?.responseKey == parsed?.responseKey && fast?.refreshToken == parsed?.refreshToken, "\(text)")
        }
        #expect(SealedRefreshToken.compactFields(Data(compact.utf8))?.refreshToken == token)
        for text in declined {
            #expect(SealedRefreshToken.compactFields(Data(text.utf8)) == nil, "\(text)")
        }
        // What the parser makes of a declined layout is what `open` answers.
        #expect(SealedRefreshToken.jsonFields(Data(declined[0].utf8))?.refreshToken == token)
        #expect(SealedRefreshToken.jsonFields(Data(declined[2].utf8))?.refreshToken == "AA/b")
    }
}

@Suite struct KeyRingTests {
    /// The reference's getActiveKeyTest: most recently activated unexpired key; ties go to the later one.
    @Test func activeKeyRule() throws {
        let keys = [
            key(id: 1, keyset: 5, secret: randomSecret(), activates: 100, expires: 1000),
            key(id: 2, keyset: 5, secret: randomSecret(), activates: 300, expires: 400),
            key(id: 3, keyset: 5, secret: randomSecret(), activates: 200, expires: 1000),
            key(id: 4, keyset: 5, secret: randomSecret(), activates: 200, expires: 1000),
            key(id: 5, keyset: 5, secret: randomSecret(), activates: 2000, expires: 3000),
        ]
        let ring = try KeyRing(keysets: [Keyset(id: 5, siteID: 7, name: "", allowedSites: nil, createdSeconds: 0, enabled: true, isDefault: true)], keys: keys)
        #expect(ring.activeKey(keysetID: 5, atSeconds: 50) == nil)
        #expect(ring.activeKey(keysetID: 5, atSeconds: 150)?.id == 1)
        #expect(ring.activeKey(keysetID: 5, atSeconds: 250)?.id == 4)
        #expect(ring.activeKey(keysetID: 5, atSeconds: 350)?.id == 2)
        #expect(ring.activeKey(keysetID: 5, atSeconds: 400)?.id == 4, "expiry is exclusive")
        #expect(ring.activeKey(keysetID: 5, atSeconds: 1500) == nil)
        #expect(ring.activeSiteKey(siteID: 7, atSeconds: 250)?.id == 4)
    }

    @Test func siteKeyFallsBackToPublisherKeyset() {
        let ring = sampleKeyRing()
        #expect(ring.activeSiteKey(siteID: 999, atSeconds: 10)?.id == 4)
        #expect(ring.activeSiteKey(siteID: 12345, atSeconds: 10)?.id == 3)
    }

    @Test func twoDefaultKeysetsForOneSiteAreRejected() {
        let sets = [
            Keyset(id: 8, siteID: 7, name: "", allowedSites: nil, createdSeconds: 0, enabled: true, isDefault: true),
            Keyset(id: 9, siteID: 7, name: "", allowedSites: nil, createdSeconds: 0, enabled: true, isDefault: true),
        ]
        #expect(throws: KeyRing.Failure.ambiguousDefaultKeyset(siteID: 7)) { try KeyRing(keysets: sets, keys: []) }
    }
}

@Suite struct EnvelopeTests {
    static let secret = SymmetricKey(data: b64("YGdzZw9oM2RzBgB8THMyAEe408lvdfsTsGteaLAGayY="))
    static let vector = "ATDX9gBKxgQaLwUi9ZDbSqo1b66u55jEN322XSR+aCvOy/c3ZiaVOh8VG22pDUSSNaUqfUwwxxYT0pS9zjW7oVPCeluHU5GCc+6A+LUTIQ8vOR+1CN7ds/61Bp82RzKf5wPABMNtqr1XkoN6d5FU/R0vpxf2hfo1cYYmW0ziCy15pPh17GN2vNTn6YK6g+MAi/dDC7mG+Mxnh9ZaEz+3IetgDPWfp5zHh/T3LWhDAA+2drlDn8KwcQE/TYKh5raR4BDHmhgBUCU6+nymoWruNYxzcII63xMTLMTGzpinNnTL3iBPII9lKRJJ2ZrGjjgMMXi066iaDDpBHH3xY+bAwriU+6GEsE8bveRMwRqT83gmkYp6mn+75Yrpdw=="
    static let vectorTime: Int64 = 1_710_907_366_130

    func open(_ body: [UInt8], binary: Bool = false, now: Int64 = vectorTime, secret: SymmetricKey = secret) -> Result<RequestEnvelope, EnvelopeError> {
        RequestEnvelope.open(body: body, binary: binary, secret: secret, nowMillis: now)
    }

    @Test func opensTheReferenceVector() throws {
        let envelope = try open(Array(Self.vector.utf8)).get()
        #expect(envelope.timestampMillis == Self.vectorTime)
        #expect(envelope.nonce == [0x30, 0xe8, 0x28, 0x01, 0x92, 0x35, 0x1c, 0x0c])
        #expect(!envelope.binaryResponse)
        let json = try JSONSerialization.jsonObject(with: envelope.payload) as? [String: Any]
        #expect(json?["email_hash"] as? String == "LdhtUlMQ58ZZy5YUqGPRQw5xUMS5dXG5ocJHYJHbAKI=")
        #expect(json?["token"] is String)
    }

    @Test func clockWindowIsTheReferences() {
        #expect((try? open(Array(Self.vector.utf8), now: Self.vectorTime + 119_999).get()) != nil)
        #expect(open(Array(Self.vector.utf8), now: Self.vectorTime + 120_000) == .failure(.staleTimestamp))
        #expect((try? open(Array(Self.vector.utf8), now: Self.vectorTime - 119_000).get()) != nil)
        #expect(open(Array(Self.vector.utf8), now: Self.vectorTime - 119_001) == .failure(.staleTimestamp))
    }

    @Test func binaryBodiesAndTheBase64Fallback() throws {
        let binary = b64(Self.vector)
        #expect(try open(binary, binary: true).get().binaryResponse)
        // A base64 body labelled octet-stream is retried as text and answered as text.
        #expect(try open(Array(Self.vector.utf8), binary: true).get().binaryResponse == false)
    }

    @Test func errorsInTheReferencesOrder() {
        #expect(open([]) == .failure(.bodyMissing))
        #expect(open(Array("====".utf8)) == .failure(.notBase64))
        #expect(open(Array(#"{"email":"a@b.com"}"#.utf8)) == .failure(.unencryptedJSON))
        #expect(open(Array("not base64!".utf8)) == .failure(.notBase64))
        #expect(open(Array(Base64.encode([1, 2, 3]).utf8)) == .failure(.tooShort))
        #expect(open(Array(Base64.encode(Array(#"{"email":"a@b.com","x":1,"y":"zzzzzzzzzzzzzz"}"#.utf8)).utf8)) == .failure(.unencryptedJSON))
        var wrongVersion = b64(Self.vector)
        wrongVersion[0] = 2
        #expect(open(Array(Base64.encode(wrongVersion).utf8)) == .failure(.unsupportedVersion(2)))
        #expect(open(Array(Self.vector.utf8), secret: SymmetricKey(size: .bits256)) == .failure(.decryptionFailed))
    }

    @Test func messagesCarryTheScopesDocsLink() {
        #expect(EnvelopeError.unsupportedVersion(2).message(scope: .uid2) ==
            "Invalid body: Invalid request envelope format version: received 2, must be 1. See https://unifiedid.com/docs/getting-started/gs-encryption-decryption for details on the request envelope format.")
        #expect(EnvelopeError.decryptionFailed.message(scope: .euid) ==
            "Invalid body: Check encryption key (ClientSecret). See https://euid.eu/docs/getting-started/gs-encryption-decryption for details on the request envelope format.")
        #expect(EnvelopeError.unencryptedJSON.message(scope: .uid2) ==
            "Invalid body: The request body is unencrypted JSON. It must be an encrypted request envelope. See https://unifiedid.com/docs/getting-started/gs-encryption-decryption#encryption-and-decryption-code-examples for encryption and decryption code examples.")
    }

    @Test func responseEnvelopeCarriesTimestampAndNonce() throws {
        let nonce: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let sealed = try #require(ResponseEnvelope.seal(json: Array("{}".utf8), nonce: nonce, secret: Self.secret, nowMillis: 42))
        let plain = Array(try AESGCMBox.open(sealed, key: Self.secret))
        var reader = ByteReader(plain)
        #expect(reader.readInteger(as: Int64.self) == 42)
        #expect(Array(reader.readBytes(8)!) == nonce)
        #expect(Array(reader.readRest()) == Array("{}".utf8))
    }
}
