@preconcurrency import Crypto
import UIDProtocol

/// A site's key pair for client-side token generation. Pages and apps hold the public key and
/// the subscription id; the private key never leaves the operator.
public struct ClientSideKeypair: Sendable {
    public var subscriptionID: String
    public var siteID: Int32
    /// As published: `UID2-X-<env>-` (or `EUID-X-…`) + base64 SPKI.
    public var publicKeyText: String
    /// As stored: `UID2-Y-<env>-` + base64 PKCS#8.
    public var privateKeyText: String
    public var contact: String
    public var name: String
    public var createdSeconds: Int64
    public var disabled: Bool
    public let privateKey: P256.KeyAgreement.PrivateKey

    /// Both key texts carry a 9-character prefix (`UID2-X-L-`) before the base64.
    static let prefixLength = 9

    public init?(subscriptionID: String, siteID: Int32, publicKeyText: String, privateKeyText: String,
                 contact: String = "", name: String = "", createdSeconds: Int64, disabled: Bool) {
        guard privateKeyText.count > Self.prefixLength,
              let der = Base64.decode(privateKeyText.dropFirst(Self.prefixLength)),
              let key = try? P256.KeyAgreement.PrivateKey(derRepresentation: der)
        else { return nil }
        self.subscriptionID = subscriptionID
        self.siteID = siteID
        self.publicKeyText = publicKeyText
        self.privateKeyText = privateKeyText
        self.contact = contact
        self.name = name
        self.createdSeconds = createdSeconds
        self.disabled = disabled
        self.privateKey = key
    }

    /// A fresh key pair with a 10-character subscription id.
    public static func generate(siteID: Int32, scope: IdentityScope, environment: IdentityEnvironment, nowSeconds: Int64) -> ClientSideKeypair {
        let key = P256.KeyAgreement.PrivateKey()
        let env: String = switch environment {
        case .test: "T"
        case .integ: "I"
        case .prod: "P"
        }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        let subscription = String((0..<10).map { _ in alphabet.randomElement(using: &generator)! })
        return ClientSideKeypair(
            subscriptionID: subscription, siteID: siteID,
            publicKeyText: "\(scope.displayName)-X-\(env)-" + Base64.encode(Array(key.publicKey.derRepresentation)),
            privateKeyText: "\(scope.displayName)-Y-\(env)-" + Base64.encode(Array(key.derRepresentation)),
            createdSeconds: nowSeconds, disabled: false
        )!
    }
}
