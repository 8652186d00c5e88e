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

/// A validated identity: its type and the identity hash `H` of docs/PROTOCOL.md#hashing-chain (32
/// bytes; 33 for a 44-character hash sent without padding, which the reference accepts as it is).
public struct IdentityHash: Sendable, Equatable {
    public let type: IdentityType
    /// Held inline: an identity map makes one per identity.
    public let hash: InlineBytes

    public var bytes: [UInt8] { hash.bytes }

    public init(type: IdentityType, hash: InlineBytes) {
        self.type = type
        self.hash = hash
    }

    /// Hashes the text's UTF-8 in place rather than through an intermediate array (`OneShotSHA256`:
    /// no heap context).
    private static func sha256(_ text: String) -> InlineBytes {
        var text = text
        return text.withUTF8 { OneShotSHA256.digest(UnsafeRawBufferPointer($0)) }
    }

    /// Normalizes/validates `value` as the reference does; nil means "Invalid Identifier".
    public init?(kind: IdentityInputKind, value: String) {
        switch kind {
        case .email:
            guard let hash = EmailNormalizer.withNormalizedUTF8(value, { OneShotSHA256.digest(UnsafeRawBufferPointer($0)) }) else {
                return nil
            }
            self.init(type: .email, hash: hash)
        case .phone:
            guard PhoneValidator.isValid(value) else { return nil }
            self.init(type: .phone, hash: Self.sha256(value))
        case .emailHash, .phoneHash:
            guard let hash = HashedInput.decode(value) else { return nil }
            self.init(type: kind.type, hash: hash)
        }
    }
}
