/// What a caller may send to identify a user: a raw email or phone, or the SHA-256 of either.
public enum IdentityInputKind: Sendable, CaseIterable {
    case email, emailHash, phone, phoneHash

    public var fieldName: String {
        switch self {
        case .email: "email"
        case .emailHash: "email_hash"
        case .phone: "phone"
        case .phoneHash: "phone_hash"
        }
    }

    public var type: IdentityType {
        switch self {
        case .email, .emailHash: .email
        case .phone, .phoneHash: .phone
        }
    }
}

/// A validated identity: its type and the 32-byte identity hash `H` of docs/PROTOCOL.md#hashing-chain.
public struct IdentityHash: Sendable, Equatable {
    public let type: IdentityType
    public let bytes: [UInt8]

    public init(type: IdentityType, bytes: [UInt8]) {
        self.type = type
        self.bytes = bytes
    }

    /// Hashes the text's UTF-8 in place rather than through an intermediate array (`OneShotSHA256`:
    /// no heap context).
    private static func sha256(_ text: String) -> [UInt8] {
        var text = text
        return text.withUTF8 { OneShotSHA256.hash(UnsafeRawBufferPointer($0)) }
    }

    /// Normalizes/validates `value` as the reference does; nil means "Invalid Identifier".
    public init?(kind: IdentityInputKind, value: String) {
        switch kind {
        case .email:
            guard let hash = EmailNormalizer.withNormalizedUTF8(value, { OneShotSHA256.hash(UnsafeRawBufferPointer($0)) }) else {
                return nil
            }
            self.init(type: .email, bytes: hash)
        case .phone:
            guard PhoneValidator.isValid(value) else { return nil }
            self.init(type: .phone, bytes: Self.sha256(value))
        case .emailHash, .phoneHash:
            guard let hash = HashedInput.decode(value) else { return nil }
            self.init(type: kind.type, bytes: hash)
        }
    }
}
