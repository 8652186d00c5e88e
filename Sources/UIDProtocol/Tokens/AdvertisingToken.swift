import Crypto
import Foundation

/// The advertising token: what publishers put in the bid stream and DSPs decrypt.
public struct AdvertisingToken: Sendable, Equatable {
    public var version: TokenVersion
    public var scope: IdentityScope
    public var type: IdentityType
    public var expiresMillis: Int64
    public var createdMillis: Int64
    public var operatorIdentity: OperatorIdentity
    public var publisher: PublisherIdentity
    public var privacyBits: PrivacyBits
    public var establishedMillis: Int64
    public var refreshedMillis: Int64
    public var rawUID: [UInt8]
    /// Set when decoded: which keys protected the layers.
    public var masterKeyID: Int32 = 0
    public var siteKeyID: Int32 = 0

    public init(
        version: TokenVersion = .v4, scope: IdentityScope, type: IdentityType,
        expiresMillis: Int64, createdMillis: Int64, operatorIdentity: OperatorIdentity = .service,
        publisher: PublisherIdentity, privacyBits: PrivacyBits, establishedMillis: Int64,
        refreshedMillis: Int64, rawUID: [UInt8]
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
        self.refreshedMillis = refreshedMillis
        self.rawUID = rawUID
    }
}

extension AdvertisingToken {
    /// Encodes as V4 (base64url, no padding): the only format the operator emits.
    public func encodeV4(masterKey: KeysetKey, siteKey: KeysetKey) -> String {
        Base64.encode(encodeBinary(version: .v4, masterKey: masterKey, siteKey: siteKey), alphabet: .url)
    }

    /// The V3/V4 byte layout (docs/PROTOCOL.md#advertising-token-v4); V3 differs only in its version byte and text encoding.
    public func encodeBinary(version: TokenVersion, masterKey: KeysetKey, siteKey: KeysetKey) -> [UInt8] {
        var token = [UInt8]()
        token.reserveCapacity(6 + 33 + 36 + rawUID.count + 2 * AESGCMKey.overhead)
        token.append(tokenIdentityByte(scope: scope, type: type))
        token.append(version.rawValue)
        token.appendBigEndian(masterKey.id)
        // Both layers are written and sealed in place in the token's one buffer. Keys were
        // validated as AES keys when the snapshot loaded, so sealing cannot fail.
        try! masterKey.aesGCM.seal(appendingTo: &token) { master throws(AESGCMBox.Failure) in
            master.appendBigEndian(expiresMillis)
            master.appendBigEndian(createdMillis)
            master.append(operatorIdentity)
            master.appendBigEndian(siteKey.id)
            try siteKey.aesGCM.seal(appendingTo: &master) { site in
                site.append(publisher)
                site.appendBigEndian(privacyBits.rawValue)
                site.appendBigEndian(establishedMillis)
                site.appendBigEndian(refreshedMillis)
                site.append(contentsOf: rawUID)
            }
        }
        return token
    }

    /// Decodes V2, V3 or V4 text with the operator's rules (docs/PROTOCOL.md#decoding-advertising-tokens): the alphabet is
    /// chosen from the first four characters, the layout from the header bytes.
    public static func decode(_ text: String, keys: KeyRing) throws(TokenDecodingError) -> AdvertisingToken {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 4 else { throw .malformed }
        let urlSafe = utf8.prefix(4).contains { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
        // The header (first 4 characters = 3 bytes) decides the layout and the alphabet.
        // Four characters are three bytes unless padded ("AA==" is one): both header bytes must be there.
        guard let head = decodeText(Array(utf8.prefix(4)), url: urlSafe), head.count >= 2 else { throw .malformed }
        if head[0] == TokenVersion.v2.rawValue {
            guard let bytes = decodeText(utf8, url: urlSafe) else { throw .malformed }
            return try decodeV2(bytes, keys: keys)
        }
        switch head[1] {
        case TokenVersion.v3.rawValue:
            guard let bytes = decodeText(utf8, url: false) else { throw .malformed }
            return try decodeV3V4(bytes, version: .v3, keys: keys)
        case TokenVersion.v4.rawValue:
            guard let bytes = decodeText(utf8, url: true) else { throw .malformed }
            return try decodeV3V4(bytes, version: .v4, keys: keys)
        default:
            throw .unknownVersion
        }
    }

    private static func decodeText(_ utf8: [UInt8], url: Bool) -> [UInt8]? {
        utf8.withUnsafeBufferPointer { Base64.decode(utf8: $0, alphabet: url ? .url : .standard) }
    }

    static func decodeV3V4(_ bytes: [UInt8], version: TokenVersion, keys: KeyRing) throws(TokenDecodingError) -> AdvertisingToken {
        var reader = ByteReader(bytes)
        guard let identityByte = reader.readInteger(as: UInt8.self),
              reader.readInteger(as: UInt8.self) != nil,
              let masterKeyID = reader.readInteger(as: Int32.self)
        else { throw .malformed }
        guard let masterKey = keys.key(id: masterKeyID) else { throw .unknownKey(masterKeyID) }
        guard let masterPlain = try? masterKey.aesGCM.open(reader.readRest()) else {
            throw .decryptionFailed
        }
        var master = ByteReader(masterPlain)
        guard let expires = master.readInteger(as: Int64.self),
              let created = master.readInteger(as: Int64.self),
              let operatorIdentity = master.readOperatorIdentity(),
              let siteKeyID = master.readInteger(as: Int32.self)
        else { throw .malformed }
        guard let siteKey = keys.key(id: siteKeyID) else { throw .unknownKey(siteKeyID) }
        guard let sitePlain = try? siteKey.aesGCM.open(master.readRest()) else {
            throw .decryptionFailed
        }
        var site = ByteReader(sitePlain)
        guard let publisher = site.readPublisherIdentity(),
              let privacy = site.readInteger(as: Int32.self),
              let established = site.readInteger(as: Int64.self),
              let refreshed = site.readInteger(as: Int64.self)
        else { throw .malformed }
        let rawUID = Array(site.readRest())
        guard rawUID.count == 32 || rawUID.count == 33 else { throw .malformed }

        guard let tokenScope = IdentityScope(rawValue: (identityByte & 0x10) >> 4),
              let tokenType = IdentityType(rawValue: (identityByte & 0x0C) >> 2)
        else { throw .scopeOrTypeMismatch }
        var scope = IdentityScope.uid2
        var type = IdentityType.email
        if rawUID.count == 33 {
            // v3/v4 raw UIDs carry their own scope/type, which must agree with the header.
            guard let uidScope = IdentityScope(rawValue: (rawUID[0] & 0x10) >> 4),
                  let uidType = IdentityType(rawValue: (rawUID[0] & 0x0C) >> 2)
            else { throw .scopeOrTypeMismatch }
            scope = uidScope
            type = uidType
            guard scope == tokenScope, type == tokenType else { throw .scopeOrTypeMismatch }
        }

        var token = AdvertisingToken(
            version: version, scope: scope, type: type, expiresMillis: expires, createdMillis: created,
            operatorIdentity: operatorIdentity, publisher: publisher,
            privacyBits: PrivacyBits(rawValue: privacy), establishedMillis: established,
            refreshedMillis: refreshed, rawUID: rawUID
        )
        token.masterKeyID = masterKeyID
        token.siteKeyID = siteKeyID
        return token
    }

    /// Legacy V2 (AES-CBC, standard base64), decoded as UID2/email.
    static func decodeV2(_ bytes: [UInt8], keys: KeyRing) throws(TokenDecodingError) -> AdvertisingToken {
        var reader = ByteReader(bytes)
        guard reader.readInteger(as: UInt8.self) != nil, let masterKeyID = reader.readInteger(as: Int32.self) else {
            throw .malformed
        }
        guard let masterKey = keys.key(id: masterKeyID) else { throw .unknownKey(masterKeyID) }
        guard let masterPlain = AESCBCLegacy.open(reader.readRest(), key: masterKey.symmetricKey) else { throw .decryptionFailed }
        var master = ByteReader(masterPlain)
        guard let expires = master.readInteger(as: Int64.self), let siteKeyID = master.readInteger(as: Int32.self) else {
            throw .malformed
        }
        guard let siteKey = keys.key(id: siteKeyID) else { throw .unknownKey(siteKeyID) }
        guard let sitePlain = AESCBCLegacy.open(master.readRest(), key: siteKey.symmetricKey) else { throw .decryptionFailed }
        var site = ByteReader(sitePlain)
        guard let legacy = site.readLegacyIdentity(), legacy.identity.count == 32 || legacy.identity.count == 33 else {
            throw .malformed
        }
        var token = AdvertisingToken(
            version: .v2, scope: .uid2, type: .email, expiresMillis: expires, createdMillis: 0,
            publisher: PublisherIdentity(siteID: legacy.siteID), privacyBits: legacy.privacyBits,
            establishedMillis: legacy.establishedMillis, refreshedMillis: 0, rawUID: legacy.identity
        )
        token.masterKeyID = masterKeyID
        token.siteKeyID = siteKeyID
        return token
    }
}
