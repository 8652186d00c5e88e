/// Token format versions: the byte that identifies a token's layout.
public enum TokenVersion: UInt8, Sendable {
    case v2 = 2
    case v3 = 112
    case v4 = 128
}

/// Who issued a token. This operator writes (0, Service = 1, 0, 0).
public struct OperatorIdentity: Sendable, Equatable {
    public static let service = OperatorIdentity(siteID: 0, type: 1, version: 0, keyID: 0)

    public var siteID: Int32
    public var type: UInt8
    public var version: Int32
    public var keyID: Int32

    public init(siteID: Int32, type: UInt8, version: Int32, keyID: Int32) {
        self.siteID = siteID
        self.type = type
        self.version = version
        self.keyID = keyID
    }
}

/// For whom a token was issued: the publisher's site (publisher id and client key id are 0 here).
public struct PublisherIdentity: Sendable, Equatable {
    public var siteID: Int32
    public var publisherID: Int64
    public var clientKeyID: Int32

    public init(siteID: Int32, publisherID: Int64 = 0, clientKeyID: Int32 = 0) {
        self.siteID = siteID
        self.publisherID = publisherID
        self.clientKeyID = clientKeyID
    }
}

/// Privacy bits: bit 0 legacy (always set), bit 1 client-side generated.
public struct PrivacyBits: Sendable, Equatable {
    public static let generated = PrivacyBits(rawValue: 1)
    public static let clientSideGenerated = PrivacyBits(rawValue: 3)

    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public var isClientSideGenerated: Bool { rawValue & 0b10 != 0 }
}

/// Why a token could not be decoded. Every case is a client's fault: callers map all of them to 4xx.
public enum TokenDecodingError: Error, Sendable, Equatable {
    case malformed
    case unknownVersion
    case unknownKey(Int32)
    case decryptionFailed
    case scopeOrTypeMismatch
}

// MARK: - Shared byte layouts of advertising and refresh tokens

extension Array where Element == UInt8 {
    /// `site id(4) ‖ type(1) ‖ version(4) ‖ key id(4)`.
    mutating func append(_ identity: OperatorIdentity) {
        appendBigEndian(identity.siteID)
        append(identity.type)
        appendBigEndian(identity.version)
        appendBigEndian(identity.keyID)
    }

    /// `site id(4) ‖ publisher id(8) ‖ client key id(4)`.
    mutating func append(_ publisher: PublisherIdentity) {
        appendBigEndian(publisher.siteID)
        appendBigEndian(publisher.publisherID)
        appendBigEndian(publisher.clientKeyID)
    }
}

extension ByteReader {
    mutating func readOperatorIdentity() -> OperatorIdentity? {
        guard let siteID = readInteger(as: Int32.self), let type = readInteger(as: UInt8.self),
              let version = readInteger(as: Int32.self), let keyID = readInteger(as: Int32.self)
        else { return nil }
        return OperatorIdentity(siteID: siteID, type: type, version: version, keyID: keyID)
    }

    mutating func readPublisherIdentity() -> PublisherIdentity? {
        guard let siteID = readInteger(as: Int32.self), let publisherID = readInteger(as: Int64.self),
              let clientKeyID = readInteger(as: Int32.self)
        else { return nil }
        return PublisherIdentity(siteID: siteID, publisherID: publisherID, clientKeyID: clientKeyID)
    }

    /// The legacy V2 inner layout shared by advertising and refresh tokens:
    /// `site id(4) ‖ length(4) ‖ base64 text of the identity[length] ‖ privacy bits(4) ‖ established ms(8)`.
    mutating func readLegacyIdentity() -> (siteID: Int32, identity: [UInt8], privacyBits: PrivacyBits, establishedMillis: Int64)? {
        guard let siteID = readInteger(as: Int32.self),
              let length = readInteger(as: Int32.self),
              let text = readBytes(Int(length)),
              let identity = Base64.decode(String(decoding: text, as: UTF8.self)),
              let privacy = readInteger(as: Int32.self),
              let established = readInteger(as: Int64.self)
        else { return nil }
        return (siteID, identity, PrivacyBits(rawValue: privacy), established)
    }
}
