@preconcurrency import Crypto
import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol

/// Client-side generation with the reference's test keys (docs/TEST-VECTORS.md#client-side-generation-keys).
@Suite struct ClientSideGenerateTests {
    static let serverPublic = "UID2-X-L-MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsziOqRXZ7II0uJusaMxxCxlxgj8el/MUYLFMtWfB71Q3G1juyrAnzyqruNiPPnIuTETfFOridglP9UQNlwzNQg=="
    static let serverPrivate = "UID2-Y-L-MEECAQAwEwYHKoZIzj0CAQYIKoZIzj0DAQcEJzAlAgEBBCBop1Dw/IwDcstgicr/3tDoyR3OIpgAWgw8mD6oTO+1ug=="
    static let clientPrivate = "MEECAQAwEwYHKoZIzj0CAQYIKoZIzj0DAQcEJzAlAgEBBCDsqxZicsGytVqN2HZqNDHtV422Lxio8m1vlflq4Jb47Q=="
    static let clientPublic = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE92+xlW2eIrXsDzV4cSfldDKxLXHsMmjLIqpdwOqJ29pWTNnZMaY2ycZHFpxbp6UlQ6vVSpKwImTKr3uikm9yCw=="
    static let policy = OriginPolicy(publicSuffixList: PublicSuffixList(text: "com\norg\n"))

    func snapshot(disabled: Bool = false, siteEnabled: Bool = true, config: OperatorConfig = OperatorConfig()) throws -> OperatorSnapshot {
        var (contents, _) = Fixtures.contents()
        contents.sites = [Site(id: 999, name: "pub", enabled: siteEnabled, domainNames: ["example.com"], appNames: ["com.example.app"])]
        contents.keypairs = [ClientSideKeypair(subscriptionID: "4WvryDGbR5", siteID: 999, publicKeyText: Self.serverPublic,
                                               privateKeyText: Self.serverPrivate, createdSeconds: 0, disabled: disabled)!]
        return try OperatorSnapshot(config: config, contents: contents)
    }

    /// What the JavaScript SDK does: ECDH, raw secret as the AES-GCM key, AAD `[timestamp(,"app")]`.
    func request(_ json: String, appName: String? = nil, origin: String? = "https://www.example.com", tamper: Bool = false) throws -> ClientSideGenerateRequest {
        let clientKey = try P256.KeyAgreement.PrivateKey(derRepresentation: Base64.decode(Self.clientPrivate)!)
        let serverKey = try P256.KeyAgreement.PublicKey(derRepresentation: Base64.decode(String(Self.serverPublic.dropFirst(9)))!)
        let secret = try clientKey.sharedSecretFromKeyAgreement(with: serverKey).withUnsafeBytes { Array($0) }
        let timestamp: Int64 = 1_700_000_000_123
        let aad = appName.map { "[\(timestamp),\"\($0)\"]" } ?? "[\(timestamp)]"
        var box = [UInt8]()
        try AESGCMBox.seal(Array(json.utf8), key: SymmetricKey(data: secret), authenticating: Array(aad.utf8), appendingTo: &box)
        if tamper { box[20] ^= 1 }
        return ClientSideGenerateRequest(payload: Base64.encode(box[12...]), iv: Base64.encode(box[..<12]), publicKey: Self.clientPublic,
                                         timestamp: timestamp, subscriptionID: "4WvryDGbR5", appName: appName, origin: origin)
    }

    @Test func sharedSecretMatchesTheReferenceVector() throws {
        let keypair = try #require(ClientSideKeypair(subscriptionID: "x", siteID: 1, publicKeyText: Self.serverPublic, privateKeyText: Self.serverPrivate, createdSeconds: 0, disabled: false))
        let client = try P256.KeyAgreement.PublicKey(derRepresentation: Base64.decode(Self.clientPublic)!)
        let secret = try keypair.privateKey.sharedSecretFromKeyAgreement(with: client).withUnsafeBytes { Array($0) }
        #expect(Base64.encode(secret) == "Gq6SeZEoOPZ9Y3QBsILkl9BdtNDeTKHopTLxijhy5AM=")
    }

    @Test func browserAndMobileRequestsGetClientSideTokens() throws {
        let snapshot = try snapshot()
        let hash = Base64.encode(IdentityHash(kind: .email, value: "cstg@example.com")!.bytes)
        for request in [try request(#"{"email_hash":"\#(hash)"}"#), try request(#"{"email_hash":"\#(hash)"}"#, appName: "COM.example.app", origin: nil)] {
            let result = try snapshot.clientSideGenerate(request, originPolicy: Self.policy, nowMillis: Fixtures.now).get()
            guard case .tokens(let tokens) = result.outcome else { Issue.record("expected tokens"); continue }
            let token = try AdvertisingToken.decode(tokens.advertisingToken, keys: snapshot.keys)
            #expect(token.privacyBits == .clientSideGenerated && token.publisher.siteID == 999)
            #expect(Base64.encode(result.sharedSecret.withUnsafeBytes { Array($0) }) == "Gq6SeZEoOPZ9Y3QBsILkl9BdtNDeTKHopTLxijhy5AM=")
            let refreshed = try snapshot.refreshToken(body: tokens.refreshToken, authenticated: false, nowMillis: Fixtures.now + 1).get()
            guard case .tokens(let next) = refreshed.outcome else { Issue.record("expected refresh"); continue }
            #expect(try AdvertisingToken.decode(next.advertisingToken, keys: snapshot.keys).privacyBits == .clientSideGenerated)
        }
    }

    @Test func errorsInTheReferencesOrder() throws {
        let snapshot = try snapshot()
        let hash = Base64.encode(IdentityHash(kind: .email, value: "cstg@example.com")!.bytes)
        func failure(_ request: ClientSideGenerateRequest, in other: OperatorSnapshot? = nil) -> OperatorFailure? {
            (other ?? snapshot).clientSideGenerate(request, originPolicy: Self.policy, nowMillis: Fixtures.now).failure
        }
        var unknown = try request(#"{"email_hash":"\#(hash)"}"#)
        unknown.subscriptionID = "nope"
        #expect(failure(unknown) == .clientError("bad subscription_id"))
        #expect(failure(try request(#"{"email_hash":"\#(hash)"}"#), in: try self.snapshot(disabled: true)) == OperatorFailure(.unauthorized, "Unauthorized"))
        #expect(failure(try request(#"{"email_hash":"\#(hash)"}"#), in: try self.snapshot(siteEnabled: false)) == OperatorFailure(.unauthorized, "Unauthorized"),
                "a disabled site's key pairs answer as a disabled key pair")
        #expect(failure(try request(#"{"email_hash":"\#(hash)"}"#, origin: "https://evil.com"))?.kind == .invalidHTTPOrigin)
        #expect(failure(try request(#"{"email_hash":"\#(hash)"}"#, origin: nil))?.kind == .invalidHTTPOrigin)
        #expect(failure(try request(#"{"email_hash":"\#(hash)"}"#, appName: "com.other", origin: nil))?.kind == .invalidAppName)
        var missing = try request(#"{"email_hash":"\#(hash)"}"#)
        missing.iv = nil
        #expect(failure(missing) == .clientError("required parameters: payload, iv, public_key"))
        var badKey = try request(#"{"email_hash":"\#(hash)"}"#)
        badKey.publicKey = "AAAA"
        #expect(failure(badKey) == .clientError("bad public key"))
        var badIV = try request(#"{"email_hash":"\#(hash)"}"#)
        badIV.iv = Base64.encode([1, 2, 3])
        #expect(failure(badIV) == .clientError("bad iv"))
        #expect(failure(try request(#"{"email_hash":"\#(hash)"}"#, tamper: true)) == .clientError("payload decryption failed"))
        #expect(failure(try request("not json")) == .clientError("encrypted payload contains invalid json"))
        #expect(failure(try request(#"{"email_hash":"\#(hash)","phone_hash":"\#(hash)"}"#)) == .clientError("please provide exactly one of: email_hash, phone_hash"))
        #expect(failure(try request(#"{"email_hash":"abc"}"#)) == .clientError("Invalid Identifier"))
        var noPhones = OperatorConfig()
        noPhones.phoneSupport = false
        #expect(failure(try request(#"{"phone_hash":"\#(hash)"}"#), in: try self.snapshot(config: noPhones)) == .clientError("phone support not enabled"))
        let optout = Base64.encode(IdentityHash(kind: .email, value: "optout@example.com")!.bytes)
        #expect(try snapshot.clientSideGenerate(request(#"{"email_hash":"\#(optout)"}"#), originPolicy: Self.policy, nowMillis: Fixtures.now).get().outcome == .optOut)
    }
}
