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
