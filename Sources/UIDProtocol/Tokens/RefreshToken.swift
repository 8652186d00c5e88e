import Crypto
import Foundation

/// The refresh token: lets the holder obtain new tokens without the user's identity.
/// It carries the first-level hash, never the raw UID.
public struct RefreshToken: Sendable, Equatable {
    public var version: TokenVersion
    public var scope: IdentityScope
    public var type: IdentityType
    public var expiresMillis: Int64
    public var createdMillis: Int64
    public var operatorIdentity: OperatorIdentity
    public var publisher: PublisherIdentity
    public var privacyBits: PrivacyBits
    public var establishedMillis: Int64
    public var firstLevelHash: [UInt8]

    public init(
        version: TokenVersion = .v3, scope: IdentityScope, type: IdentityType, expiresMillis: Int64,
        createdMillis: Int64, operatorIdentity: OperatorIdentity = .service, publisher: PublisherIdentity,
        privacyBits: PrivacyBits, establishedMillis: Int64, firstLevelHash: [UInt8]
    ) {
        self.version = version
        self.scope = scope
        self.type = type
        self.expiresMillis = expiresMillis
        self.createdMillis = createdMillis
        self.operatorIdentity = operatorIdentity
        self.publisher = publisher
        self.privacyBits = privacyBits
        self.establishedMillis = establishedMillis
        self.firstLevelHash = firstLevelHash
    }

    public static let v3PayloadLength = 90
    /// SHA-256: every first-level hash, and so every refresh token's identity, is 32 bytes.
    public static let firstLevelHashLength = 32
    public static let v3TextLength = 168

    /// V3 layout of docs/PROTOCOL.md#refresh-token-v3, standard base64 (168 characters).
    public func encodeV3(refreshKey: KeysetKey) -> String {
        var token = [UInt8]()
        token.reserveCapacity(6 + Self.v3PayloadLength + AESGCMKey.overhead)
        token.append(tokenIdentityByte(scope: scope, type: type))
        token.append(TokenVersion.v3.rawValue)
        token.appendBigEndian(refreshKey.id)
        // The payload is written and sealed in place; the key was validated when the snapshot loaded.
        try! refreshKey.aesGCM.seal(appendingTo: &token) { payload in
            payload.appendBigEndian(expiresMillis)
            payload.appendBigEndian(createdMillis)
            payload.append(operatorIdentity)
            payload.append(publisher)
            payload.appendBigEndian(privacyBits.rawValue)
            payload.appendBigEndian(establishedMillis)
            payload.append(tokenIdentityByte(scope: scope, type: type))
            payload.append(contentsOf: firstLevelHash.prefix(32))
        }
        return Base64.encode(token)
    }

    /// Decodes V3 (byte 1 = 112) or legacy V2 (byte 0 = 2). Any failure, including a tampered
    /// ciphertext, is a decoding error rather than a crash. Only keys of the refresh keyset open a
    /// refresh token (`KeyRing.refreshKey(id:)`), and the first-level hash must be 32 bytes.
    public static func decode(_ text: String, keys: KeyRing) throws(TokenDecodingError) -> RefreshToken {
        guard let bytes = Base64.decode(text), bytes.count >= 2 else { throw .malformed }
        if bytes[1] == TokenVersion.v3.rawValue { return try decodeV3(bytes, keys: keys) }
        if bytes[0] == TokenVersion.v2.rawValue { return try decodeV2(bytes, keys: keys) }
        throw .unknownVersion
    }

    static func decodeV3(_ bytes: [UInt8], keys: KeyRing) throws(TokenDecodingError) -> RefreshToken {
        var reader = ByteReader(bytes)
        guard let headerByte = reader.readInteger(as: UInt8.self),
              reader.readInteger(as: UInt8.self) != nil,
              let keyID = reader.readInteger(as: Int32.self)
        else { throw .malformed }
        guard let key = keys.refreshKey(id: keyID) else { throw .unknownKey(keyID) }
        guard let plain = try? key.aesGCM.open(reader.readRest()) else { throw .decryptionFailed }
        var payload = ByteReader(plain)
        guard let expires = payload.readInteger(as: Int64.self),
              let created = payload.readInteger(as: Int64.self),
              let operatorIdentity = payload.readOperatorIdentity(),
              let publisher = payload.readPublisherIdentity(),
              let privacy = payload.readInteger(as: Int32.self),
              let established = payload.readInteger(as: Int64.self),
              let identityByte = payload.readInteger(as: UInt8.self),
              let flh = payload.readBytes(firstLevelHashLength)
        else { throw .malformed }
        guard let scope = IdentityScope(rawValue: (identityByte & 0x10) >> 4),
              let type = IdentityType(rawValue: (identityByte & 0x0C) >> 2),
              (headerByte & 0x10) >> 4 == scope.rawValue,
              (headerByte & 0x0C) >> 2 == type.rawValue
        else { throw .scopeOrTypeMismatch }
        return RefreshToken(
            version: .v3, scope: scope, type: type, expiresMillis: expires, createdMillis: created,
            operatorIdentity: operatorIdentity, publisher: publisher,
            privacyBits: PrivacyBits(rawValue: privacy), establishedMillis: established, firstLevelHash: Array(flh)
        )
    }

    /// Legacy V2: `validTill` (expiry + 60 s when written) serves as the expiry. UID2/email only.
    static func decodeV2(_ bytes: [UInt8], keys: KeyRing) throws(TokenDecodingError) -> RefreshToken {
        var reader = ByteReader(bytes)
        guard reader.readInteger(as: UInt8.self) != nil,
              let created = reader.readInteger(as: Int64.self),
              reader.readInteger(as: Int64.self) != nil,
              let validTill = reader.readInteger(as: Int64.self),
              let keyID = reader.readInteger(as: Int32.self)
        else { throw .malformed }
        guard let key = keys.refreshKey(id: keyID) else { throw .unknownKey(keyID) }
        guard let plain = AESCBCLegacy.open(reader.readRest(), key: key.symmetricKey) else { throw .decryptionFailed }
        var payload = ByteReader(plain)
        guard let legacy = payload.readLegacyIdentity(), legacy.identity.count == firstLevelHashLength else { throw .malformed }
        return RefreshToken(
            version: .v2, scope: .uid2, type: .email, expiresMillis: validTill, createdMillis: created,
            publisher: PublisherIdentity(siteID: legacy.siteID), privacyBits: legacy.privacyBits,
            establishedMillis: legacy.establishedMillis, firstLevelHash: legacy.identity
        )
    }
}
