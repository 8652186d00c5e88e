@preconcurrency import Crypto
@testable import UIDProtocol

func b64(_ text: String) -> [UInt8] { Base64.decode(text)! }

func key(id: Int32, keyset: Int32, secret: [UInt8], activates: Int64 = 0, expires: Int64 = 4_000_000_000) -> KeysetKey {
    KeysetKey(id: id, keysetID: keyset, createdSeconds: 0, activatesSeconds: activates, expiresSeconds: expires, secret: secret)!
}

func randomSecret() -> [UInt8] { (0..<32).map { _ in UInt8.random(in: 0...255) } }

/// A minimal key ring: master, refresh, fallback publisher and one site keyset (site 999).
func sampleKeyRing() -> KeyRing {
    let keysets = [
        Keyset(id: -1, siteID: -1, name: "master", allowedSites: nil, createdSeconds: 0, enabled: true, isDefault: true),
        Keyset(id: -2, siteID: -2, name: "refresh", allowedSites: nil, createdSeconds: 0, enabled: true, isDefault: true),
        Keyset(id: 2, siteID: 2, name: "fallback", allowedSites: nil, createdSeconds: 0, enabled: true, isDefault: true),
        Keyset(id: 10, siteID: 999, name: "site", allowedSites: nil, createdSeconds: 0, enabled: true, isDefault: true),
    ]
    let keys = [
        key(id: 1, keyset: -1, secret: randomSecret()),
        key(id: 2, keyset: -2, secret: randomSecret()),
        key(id: 3, keyset: 2, secret: randomSecret()),
        key(id: 4, keyset: 10, secret: randomSecret()),
    ]
    return try! KeyRing(keysets: keysets, keys: keys)
}

/// A legacy V2 refresh token carrying `identity` as its first-level hash, sealed under `keyID`'s key.
func legacyRefreshToken(identity: [UInt8], keyID: Int32, ring: KeyRing, validTillMillis: Int64 = 4_000_000_000_000) throws -> String {
    var payload = [UInt8]()
    payload.appendBigEndian(Int32(999))
    let text = Array(Base64.encode(identity).utf8)
    payload.appendBigEndian(Int32(text.count))
    payload += text
    payload.appendBigEndian(Int32(1))
    payload.appendBigEndian(Int64(1_690_000_000_000))
    var token: [UInt8] = [2]
    token.appendBigEndian(Int64(1_700_000_000_000))
    token.appendBigEndian(Int64(1_700_000_100_000))
    token.appendBigEndian(validTillMillis)
    token.appendBigEndian(keyID)
    guard let key = ring.key(id: keyID), let sealed = AESCBCLegacy.seal(payload, key: key.symmetricKey) else {
        throw TokenDecodingError.unknownKey(keyID)
    }
    return Base64.encode(token + sealed)
}
