@preconcurrency import Crypto
import UIDProtocol

/// Client roles that the operator's routes check. Unknown role strings are kept as `.unknown` so
/// data written by other tools still loads.
public enum Role: String, Sendable, CaseIterable, Codable {
    case generator = "GENERATOR"
    case mapper = "MAPPER"
    case idReader = "ID_READER"
    case sharer = "SHARER"
    case optout = "OPTOUT"
    /// The operator's own staff: may read `/ops/status` (store errors, counts, versions).
    case maintainer = "MAINTAINER"
    case unknown = "UNKNOWN"

    public init(parsing text: String) {
        self = Role(rawValue: text.uppercased()) ?? .unknown
    }

    /// The roles a client can be given (participants hold the first five).
    public static let clientRoles: [Role] = [.generator, .mapper, .idReader, .sharer, .optout, .maintainer]
}

/// An API client. The API key itself is never stored: only `SHA-512(salt ‖ key)`.
public struct ClientKey: Sendable {
    public var keyID: String
    public var keyHash: [UInt8]
    public var keySalt: [UInt8]
    public var secret: [UInt8]
    public var name: String
    public var contact: String
    public var siteID: Int32
    public var roles: Set<Role>
    public var disabled: Bool
    public var serviceID: Int32
    public var createdSeconds: Int64
    /// The envelope key, built once per snapshot.
    public let secretKey: SymmetricKey
    /// The same key with its AES-GCM context prepared: every envelope open and seal uses it.
    public let envelopeKey: AESGCMKey

    public init?(
        keyID: String, keyHash: [UInt8], keySalt: [UInt8], secret: [UInt8], name: String, contact: String,
        siteID: Int32, roles: Set<Role>, disabled: Bool, serviceID: Int32 = 0, createdSeconds: Int64
    ) {
        guard let key = SymmetricKey.aes(secret), let envelopeKey = AESGCMKey(secret) else { return nil }
        self.keyID = keyID
        self.keyHash = keyHash
        self.keySalt = keySalt
        self.secret = secret
        self.name = name
        self.contact = contact
        self.siteID = siteID
        self.roles = roles
        self.disabled = disabled
        self.serviceID = serviceID
        self.createdSeconds = createdSeconds
        self.secretKey = key
        self.envelopeKey = envelopeKey
    }

    public func hasAnyRole(_ required: [Role]) -> Bool {
        required.contains { roles.contains($0) }
    }
}

/// API key hashing and generation in the reference's scheme, so keys issued by either side work.
public enum APIKeyHasher {
    /// SHA-512(salt ‖ key's UTF-8), as the reference stores it. Every keyed request checks one.
    public static func hash(key: String, salt: [UInt8]) -> [UInt8] {
        var key = key
        return key.withUTF8 { utf8 in salt.withUnsafeBytes { OneShotSHA512.hash($0, UnsafeRawBufferPointer(utf8)) } }
    }

    /// Compares without an early exit, so timing does not reveal how much of a hash matched.
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// `<SCOPE>-C-<ENV>-<site>-<6 chars>.<38 chars>`, and its key id (the prefix plus 5 of the 6 chars).
    public static func generateKey(scope: IdentityScope, environment: IdentityEnvironment, siteID: Int32) -> (key: String, keyID: String) {
        let envLetter: String = switch environment {
        case .test: "T"
        case .integ: "I"
        case .prod: "P"
        }
        let prefix = "\(scope.displayName)-C-\(envLetter)-\(siteID)-"
        let head = randomAlphanumerics(6)
        let tail = Base64.encode(randomBytes(30)).prefix(38)
        let key = prefix + head + "." + tail
        return (key, prefix + head.prefix(5))
    }

    public static func randomBytes(_ count: Int) -> [UInt8] {
        SecureRandom.bytes(count)
    }

    private static func randomAlphanumerics(_ count: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in alphabet.randomElement(using: &generator)! })
    }
}
