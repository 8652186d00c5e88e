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
    func request(_ json: String, appName: String? = nil, tamper: Bool = false) throws -> ClientSideEnvelope.Sealed {
        let clientKey = try P256.KeyAgreement.PrivateKey(derRepresentation: Base64.decode(Self.clientPrivate)!)
        let serverKey = try P256.KeyAgreement.PublicKey(derRepresentation: Base64.decode(String(Self.serverPublic.dropFirst(9)))!)
        let secret = try clientKey.sharedSecretFromKeyAgreement(with: serverKey).withUnsafeBytes { Array($0) }
        let timestamp: Int64 = 1_700_000_000_123
        let aad = appName.map { "[\(timestamp),\"\($0)\"]" } ?? "[\(timestamp)]"
        var box = [UInt8]()
        try AESGCMBox.seal(Array(json.utf8), key: SymmetricKey(data: secret), authenticating: Array(aad.utf8), appendingTo: &box)
        if tamper { box[20] ^= 1 }
        return ClientSideEnvelope.Sealed(payload: Base64.encode(box[12...]), iv: Base64.encode(box[..<12]), publicKey: Self.clientPublic,
                                         timestamp: timestamp, appName: appName)
    }

    /// The server's steps: the core checks the key pair, the protocol opens the payload, the core
    /// generates; each failure as the server answers it.
    func generate(
        _ sealed: ClientSideEnvelope.Sealed, subscriptionID: String = "4WvryDGbR5", origin: String? = "https://www.example.com",
        in snapshot: OperatorSnapshot
    ) -> Result<(outcome: TokenOutcome, secret: SymmetricKey), OperatorFailure> {
        let keypair: ClientSideKeypair
        switch snapshot.clientSideKeypair(subscriptionID: subscriptionID, appName: sealed.appName, origin: origin, originPolicy: Self.policy) {
        case .success(let found): keypair = found
        case .failure(let failure): return .failure(failure)
        }
        let opened: ClientSideEnvelope.Opened
        switch ClientSideEnvelope.open(sealed, privateKey: keypair.privateKey) {
        case .success(let result): opened = result
        case .failure(let failure): return .failure(.clientError(failure.message))
        }
        guard let fields = (try? JSONSerialization.jsonObject(with: opened.payload)) as? [String: String] else {
            return .failure(.clientError("encrypted payload contains invalid json"))
        }
        let request = ClientSideGenerateRequest(emailHash: fields["email_hash"], phoneHash: fields["phone_hash"])
        return snapshot.clientSideGenerate(request, keypair: keypair, nowMillis: Fixtures.now).map { ($0, opened.sharedSecret) }
    }

    @Test func sharedSecretMatchesTheReferenceVector() throws {
        let keypair = try #require(ClientSideKeypair(subscriptionID: "x", siteID: 1, publicKeyText: Self.serverPublic, privateKeyText: Self.serverPrivate, createdSeconds: 0, disabled: false))
        let client = try P256.KeyAgreement.PublicKey(derRepresentation: Base64.decode(Self.clientPublic)!)
        let secret = try keypair.privateKey.sharedSecretFromKeyAgreement(with: client).withUnsafeBytes { Array($0) }
        #expect(Base64.encode(secret) == "Gq6SeZEoOPZ9Y3QBsILkl9BdtNDeTKHopTLxijhy5AM=")
        #expect(ClientSideEnvelope.aad(timestamp: 12, appName: "com.example/app") == #"[12,"com.example/app"]"#)
    }

    @Test func browserAndMobileRequestsGetClientSideTokens() throws {
        let snapshot = try snapshot()
        let hash = Base64.encode(IdentityHash(kind: .email, value: "cstg@example.com")!.bytes)
        for (sealed, origin) in [(try request(#"{"email_hash":"\#(hash)"}"#), "https://www.example.com"),
                                 (try request(#"{"email_hash":"\#(hash)"}"#, appName: "COM.example.app"), nil)] {
            let result = try generate(sealed, origin: origin, in: snapshot).get()
            guard case .tokens(let tokens) = result.outcome else { Issue.record("expected tokens"); continue }
            let token = try AdvertisingToken.decode(tokens.advertisingToken, keys: snapshot.keys)
            #expect(token.privacyBits == .clientSideGenerated && token.publisher.siteID == 999)
            #expect(Base64.encode(result.secret.withUnsafeBytes { Array($0) }) == "Gq6SeZEoOPZ9Y3QBsILkl9BdtNDeTKHopTLxijhy5AM=")
            let refreshed = try snapshot.refresh(body: tokens.refreshToken, authenticated: false, nowMillis: Fixtures.now + 1).get()
            guard case .tokens(let next) = refreshed.outcome else { Issue.record("expected refresh"); continue }
            #expect(try AdvertisingToken.decode(next.advertisingToken, keys: snapshot.keys).privacyBits == .clientSideGenerated)
        }
    }

    @Test func errorsInTheReferencesOrder() throws {
        let snapshot = try snapshot()
        let hash = Base64.encode(IdentityHash(kind: .email, value: "cstg@example.com")!.bytes)
        let valid = try request(#"{"email_hash":"\#(hash)"}"#)
        func failure(_ sealed: ClientSideEnvelope.Sealed, subscriptionID: String = "4WvryDGbR5", origin: String? = "https://www.example.com",
                     in other: OperatorSnapshot? = nil) -> OperatorFailure? {
            generate(sealed, subscriptionID: subscriptionID, origin: origin, in: other ?? snapshot).failure
        }
        #expect(failure(valid, subscriptionID: "nope") == .clientError("bad subscription_id"))
        #expect(failure(valid, in: try self.snapshot(disabled: true)) == OperatorFailure(.unauthorized, "Unauthorized"))
        #expect(failure(valid, in: try self.snapshot(siteEnabled: false)) == OperatorFailure(.unauthorized, "Unauthorized"),
                "a disabled site's key pairs answer as a disabled key pair")
        #expect(failure(valid, origin: "https://evil.com")?.kind == .invalidHTTPOrigin)
        #expect(failure(valid, origin: nil)?.kind == .invalidHTTPOrigin)
        #expect(failure(try request(#"{"email_hash":"\#(hash)"}"#, appName: "com.other"), origin: nil)?.kind == .invalidAppName)
        var missing = valid
        missing.iv = nil
        #expect(failure(missing) == .clientError("required parameters: payload, iv, public_key"))
        var badKey = valid
        badKey.publicKey = "AAAA"
        #expect(failure(badKey) == .clientError("bad public key"))
        var badIV = valid
        badIV.iv = Base64.encode([1, 2, 3])
        #expect(failure(badIV) == .clientError("bad iv"))
        #expect(failure(try request(#"{"email_hash":"\#(hash)"}"#, tamper: true)) == .clientError("payload decryption failed"))
        var otherTime = valid
        otherTime.timestamp += 1
        #expect(failure(otherTime) == .clientError("payload decryption failed"), "the timestamp is authenticated")
        #expect(failure(try request("not json")) == .clientError("encrypted payload contains invalid json"))
        #expect(failure(try request(#"{"email_hash":"\#(hash)","phone_hash":"\#(hash)"}"#)) == .clientError("please provide exactly one of: email_hash, phone_hash"))
        #expect(failure(try request(#"{"email_hash":"abc"}"#)) == .clientError("Invalid Identifier"))
        var noPhones = OperatorConfig()
        noPhones.phoneSupport = false
        #expect(failure(try request(#"{"phone_hash":"\#(hash)"}"#), in: try self.snapshot(config: noPhones)) == .clientError("phone support not enabled"))
        let optout = Base64.encode(IdentityHash(kind: .email, value: "optout@example.com")!.bytes)
        #expect(try generate(request(#"{"email_hash":"\#(optout)"}"#), in: snapshot).get().outcome == .optOut)
    }
}
