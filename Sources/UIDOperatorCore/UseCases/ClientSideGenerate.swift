@preconcurrency import Crypto
import Foundation
import UIDProtocol

/// `/v2/token/client-generate` as sent by the JavaScript and mobile SDKs (docs/PROTOCOL.md#client-side-generate).
public struct ClientSideGenerateRequest: Sendable {
    public var payload: String?
    public var iv: String?
    public var publicKey: String?
    public var timestamp: Int64
    public var subscriptionID: String
    public var appName: String?
    /// The request's `Origin` header.
    public var origin: String?

    public init(payload: String?, iv: String?, publicKey: String?, timestamp: Int64, subscriptionID: String, appName: String?, origin: String?) {
        self.payload = payload
        self.iv = iv
        self.publicKey = publicKey
        self.timestamp = timestamp
        self.subscriptionID = subscriptionID
        self.appName = appName
        self.origin = origin
    }
}

/// The outcome and the ECDH secret the answer must be sealed with.
public struct ClientSideGenerateResult: Sendable {
    public var outcome: TokenOutcome
    public var sharedSecret: SymmetricKey
}

extension OperatorSnapshot {
    public func clientSideGenerate(
        _ request: ClientSideGenerateRequest, originPolicy: OriginPolicy, nowMillis now: Int64
    ) -> Result<ClientSideGenerateResult, OperatorFailure> {
        guard let keypair = keypairs[request.subscriptionID] else { return .failure(.clientError("bad subscription_id")) }
        // A disabled key pair, or any key pair of a disabled site, is refused alike.
        guard !keypair.disabled, isSiteEnabled(keypair.siteID) else { return .failure(OperatorFailure(.unauthorized, "Unauthorized")) }
        let site = sites[keypair.siteID]
        if let appName = request.appName {
            guard originPolicy.isAllowed(appName: appName, allowedAppNames: site?.appNames ?? []) else {
                return .failure(OperatorFailure(.invalidAppName, "unexpected app name"))
            }
        } else {
            guard originPolicy.isAllowed(origin: request.origin, allowedDomains: site?.domainNames ?? []) else {
                return .failure(OperatorFailure(.invalidHTTPOrigin, "unexpected http origin"))
            }
        }
        guard let payloadText = request.payload, let ivText = request.iv, let publicKeyText = request.publicKey else {
            return .failure(.clientError("required parameters: payload, iv, public_key"))
        }
        guard let publicDER = Base64.decode(publicKeyText),
              let clientKey = try? P256.KeyAgreement.PublicKey(derRepresentation: publicDER),
              let secret = try? keypair.privateKey.sharedSecretFromKeyAgreement(with: clientKey)
        else { return .failure(.clientError("bad public key")) }
        guard let iv = Base64.decode(ivText), iv.count == 12 else { return .failure(.clientError("bad iv")) }
        let sharedSecret = secret.withUnsafeBytes { SymmetricKey(data: $0) }
        guard let ciphertext = Base64.decode(payloadText),
              let plain = try? AESGCMBox.open(iv + ciphertext, key: sharedSecret, authenticating: Array(aad(for: request).utf8))
        else { return .failure(.clientError("payload decryption failed")) }
        guard let fields = try? JSONDecoder().decode(HashFields.self, from: plain) else {
            return .failure(.clientError("encrypted payload contains invalid json"))
        }

        let identity: IdentityHash
        switch (fields.emailHash, fields.phoneHash) {
        case (_, .some) where !config.phoneSupport:
            return .failure(.clientError("phone support not enabled"))
        case (.some(let hash), nil):
            guard let decoded = IdentityHash(kind: .emailHash, value: hash) else { return .failure(.invalidIdentifier) }
            identity = decoded
        case (nil, .some(let hash)):
            guard let decoded = IdentityHash(kind: .phoneHash, value: hash) else { return .failure(.invalidIdentifier) }
            identity = decoded
        default:
            return .failure(.clientError(config.phoneSupport ? "please provide exactly one of: email_hash, phone_hash" : "please provide email_hash"))
        }

        let resolved = resolve(identity)
        if isOptedOut(type: identity.type, firstLevelHash: resolved.firstLevelHash, forRefresh: false) {
            return .success(ClientSideGenerateResult(outcome: .optOut, sharedSecret: sharedSecret))
        }
        let subject = TokenSubject(
            type: identity.type, firstLevelHash: resolved.firstLevelHash, publisher: PublisherIdentity(siteID: keypair.siteID),
            privacyBits: .clientSideGenerated, establishedMillis: now
        )
        return issueTokens(for: subject, nowMillis: now).map { ClientSideGenerateResult(outcome: .tokens($0), sharedSecret: sharedSecret) }
    }

    /// `[timestamp]` or `[timestamp,"app_name"]`, compact, exactly as the SDKs build it.
    func aad(for request: ClientSideGenerateRequest) -> String {
        guard let appName = request.appName else { return "[\(request.timestamp)]" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let encoded = (try? encoder.encode(appName)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
        return "[\(request.timestamp),\(encoded)]"
    }

    /// The decrypted payload: hashes only, raw identities are never sent client-side.
    private struct HashFields: Decodable {
        let emailHash: String?
        let phoneHash: String?

        enum CodingKeys: String, CodingKey {
            case emailHash = "email_hash"
            case phoneHash = "phone_hash"
        }
    }
}
