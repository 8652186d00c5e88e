@preconcurrency import Crypto
import Foundation

/// The encrypted `payload` of a client-side generate request (docs/PROTOCOL.md#client-side-generate):
/// AES-GCM under the ECDH secret of the caller's ephemeral key and the site's key pair, with the
/// AAD `[timestamp]` or `[timestamp,"app_name"]`. The answer is sealed with the same secret
/// (`ResponseEnvelope.sealWithKeyOnly`).
public enum ClientSideEnvelope {
    /// Each a 400 `client_error` with the reference's message.
    public enum Failure: Error, Sendable, Equatable {
        case missingParameters
        case badPublicKey
        case badIV
        case decryptionFailed

        public var message: String {
            switch self {
            case .missingParameters: "required parameters: payload, iv, public_key"
            case .badPublicKey: "bad public key"
            case .badIV: "bad iv"
            case .decryptionFailed: "payload decryption failed"
            }
        }
    }

    /// The request's encrypted fields, as sent (base64 text).
    public struct Sealed: Sendable {
        public var payload: String?
        public var iv: String?
        public var publicKey: String?
        public var timestamp: Int64
        public var appName: String?

        public init(payload: String?, iv: String?, publicKey: String?, timestamp: Int64, appName: String?) {
            self.payload = payload
            self.iv = iv
            self.publicKey = publicKey
            self.timestamp = timestamp
            self.appName = appName
        }
    }

    public struct Opened: Sendable {
        /// The decrypted request JSON.
        public var payload: Data
        /// The key the answer is sealed with.
        public var sharedSecret: SymmetricKey
    }

    public static func open(_ sealed: Sealed, privateKey: P256.KeyAgreement.PrivateKey) -> Result<Opened, Failure> {
        guard let payloadText = sealed.payload, let ivText = sealed.iv, let publicKeyText = sealed.publicKey else {
            return .failure(.missingParameters)
        }
        guard let publicDER = Base64.decode(publicKeyText),
              let clientKey = try? P256.KeyAgreement.PublicKey(derRepresentation: publicDER),
              let secret = try? privateKey.sharedSecretFromKeyAgreement(with: clientKey)
        else { return .failure(.badPublicKey) }
        guard let iv = Base64.decode(ivText), iv.count == 12 else { return .failure(.badIV) }
        let sharedSecret = secret.withUnsafeBytes { SymmetricKey(data: $0) }
        guard let ciphertext = Base64.decode(payloadText),
              let plain = try? AESGCMBox.open(iv + ciphertext, key: sharedSecret, authenticating: Array(aad(timestamp: sealed.timestamp, appName: sealed.appName).utf8))
        else { return .failure(.decryptionFailed) }
        return .success(Opened(payload: plain, sharedSecret: sharedSecret))
    }

    /// `[timestamp]` or `[timestamp,"app_name"]`, compact, exactly as the SDKs build it.
    public static func aad(timestamp: Int64, appName: String?) -> String {
        guard let appName else { return "[\(timestamp)]" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let encoded = (try? encoder.encode(appName)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
        return "[\(timestamp),\(encoded)]"
    }
}
