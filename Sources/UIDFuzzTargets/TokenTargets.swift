@preconcurrency import Crypto
import Foundation
import UIDOperatorCore
import UIDProtocol

/// Token decoders. Random bytes rarely get past AES-GCM, so most selectors seal the fuzzed bytes
/// as a layer's plaintext under the world's real keys: that is where the field parsing lives.
enum TokenTargets {
    private static let keyIDs: (master: Int32, refresh: Int32, site: Int32) = {
        let world = FuzzWorld.shared
        return (world.masterKey?.id ?? 0, world.refreshKey?.id ?? 0, world.siteKey?.id ?? 0)
    }()

    private static func header(_ first: UInt8, _ second: UInt8, keyID: Int32) -> [UInt8] {
        var bytes = [first, second]
        bytes.appendBigEndian(keyID)
        return bytes
    }

    /// A legacy V2 refresh token's clear part: `2 ‖ created ‖ expires ‖ valid till ‖ key id`.
    private static func legacyRefreshHeader(keyID: Int32) -> [UInt8] {
        var bytes: [UInt8] = [TokenVersion.v2.rawValue]
        bytes.appendBigEndian(FuzzWorld.nowMillis)
        bytes.appendBigEndian(FuzzWorld.nowMillis)
        bytes.appendBigEndian(FuzzWorld.nowMillis + 86_400_000)
        bytes.appendBigEndian(keyID)
        return bytes
    }

    /// The sealed refresh token's `scope(1) ‖ key id(4)`.
    private static func envelopeHeader(keyID: Int32) -> [UInt8] {
        var bytes: [UInt8] = [0]
        bytes.appendBigEndian(keyID)
        return bytes
    }

    private static func gcm(_ plain: [UInt8], _ key: KeysetKey?) -> [UInt8] {
        guard let key else { return [] }
        return (try? AESGCMBox.seal(plain, key: key.symmetricKey)) ?? []
    }

    private static func cbc(_ plain: [UInt8], _ key: KeysetKey?) -> [UInt8] {
        guard let key else { return [] }
        return AESCBCLegacy.seal(plain, key: key.symmetricKey) ?? []
    }

    // MARK: Sealed refresh token

    static let sealedRefreshToken = FuzzTarget(
        name: "sealed-refresh-token",
        summary: "388-character sealed refresh token: framing, refresh-key-only opening, inner JSON, response key",
        seeds: {
            let world = FuzzWorld.shared
            let inner = #"{"refresh_response_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","refresh_token":"x"}"#
            return [
                FuzzInput.with(0, world.issuedTokens?.refreshToken ?? ""),
                FuzzInput.with(1, inner),
                FuzzInput.with(2, inner),
            ]
        },
        run: { bytes in
            let world = FuzzWorld.shared
            let input = FuzzInput(bytes)
            switch input.selector % 3 {
            case 0:
                _ = try? SealedRefreshToken.open(String(decoding: input.rest, as: UTF8.self), keys: world.keys)
            case 1:
                let envelope = Base64.encode(envelopeHeader(keyID: keyIDs.refresh) + gcm(input.rest, world.refreshKey))
                _ = try? SealedRefreshToken.open(envelope, keys: world.keys)
            default:
                // Sealed under a key every DSP downloads: must never open.
                let envelope = Base64.encode(envelopeHeader(keyID: keyIDs.master) + gcm(input.rest, world.masterKey))
                if (try? SealedRefreshToken.open(envelope, keys: world.keys)) != nil {
                    return "a refresh token sealed under the master key was opened"
                }
            }
            return nil
        }
    )

    // MARK: Refresh token

    static let refreshToken = FuzzTarget(
        name: "refresh-token",
        summary: "refresh tokens V3 (AES-GCM) and legacy V2 (AES-CBC): layouts, key restriction, FLH length",
        seeds: {
            let world = FuzzWorld.shared
            guard let refreshKey = world.refreshKey else { return [] }
            let token = RefreshToken(
                scope: .uid2, type: .email, expiresMillis: FuzzWorld.nowMillis + 86_400_000, createdMillis: FuzzWorld.nowMillis,
                publisher: PublisherIdentity(siteID: 999), privacyBits: .generated, establishedMillis: FuzzWorld.nowMillis,
                firstLevelHash: Array(repeating: 7, count: 32)
            )
            let text = token.encodeV3(refreshKey: refreshKey)
            let opened = Base64.decode(text).flatMap { try? AESGCMBox.open($0.dropFirst(6), key: refreshKey.symmetricKey) }.map(Array.init) ?? []
            var legacy = [UInt8]()
            legacy.appendBigEndian(Int32(999))
            let identity = Array(Base64.encode(Array(repeating: UInt8(7), count: 32)).utf8)
            legacy.appendBigEndian(Int32(identity.count))
            legacy += identity
            legacy.appendBigEndian(Int32(1))
            legacy.appendBigEndian(FuzzWorld.nowMillis)
            return [FuzzInput.with(0, text), FuzzInput.with(1, opened), FuzzInput.with(2, legacy), FuzzInput.with(3, opened), FuzzInput.with(4, legacy)]
        },
        run: { bytes in
            let world = FuzzWorld.shared
            let input = FuzzInput(bytes)
            let text: String
            var forged = false
            switch input.selector % 5 {
            case 0:
                text = String(decoding: input.rest, as: UTF8.self)
            case 1:
                text = Base64.encode(header(0, TokenVersion.v3.rawValue, keyID: keyIDs.refresh) + gcm(input.rest, world.refreshKey))
            case 2:
                text = Base64.encode(legacyRefreshHeader(keyID: keyIDs.refresh) + cbc(input.rest, world.refreshKey))
            case 3:
                forged = true
                text = Base64.encode(header(0, TokenVersion.v3.rawValue, keyID: keyIDs.master) + gcm(input.rest, world.masterKey))
            default:
                forged = true
                text = Base64.encode(legacyRefreshHeader(keyID: keyIDs.site) + cbc(input.rest, world.siteKey))
            }
            guard let decoded = try? RefreshToken.decode(text, keys: world.keys) else { return nil }
            if forged { return "a refresh token under a downloadable key decoded" }
            if decoded.firstLevelHash.count != RefreshToken.firstLevelHashLength {
                return "decoded a refresh token whose first-level hash is \(decoded.firstLevelHash.count) bytes"
            }
            // The whole refresh use case on what decoded, wrapped as a browser would send it.
            if let refreshKey = world.refreshKey {
                let sealed = SealedRefreshToken.seal(
                    refreshToken: text, responseKey: Array(repeating: 1, count: 32), scope: .uid2, refreshKey: refreshKey
                )
                if case .success(let opened) = SealedRefreshToken.openRequestBody(sealed, keys: world.keys) {
                    let request = TokenRefreshRequest(refreshToken: opened.refreshToken, authenticated: false)
                    _ = world.snapshot.refreshToken(request, nowMillis: FuzzWorld.nowMillis)
                }
            }
            return nil
        }
    )

    // MARK: Advertising token

    static let advertisingToken = FuzzTarget(
        name: "advertising-token",
        summary: "advertising tokens V2 (AES-CBC), V3 and V4 (AES-GCM): text alphabets, headers, both layers",
        seeds: {
            let world = FuzzWorld.shared
            guard let token = world.issuedTokens?.advertisingToken,
                  let bytes = Base64.decode(token, alphabet: .url), let master = world.masterKey, let site = world.siteKey,
                  let masterPlain = try? AESGCMBox.open(bytes.dropFirst(6), key: master.symmetricKey)
            else { return [] }
            let masterLayer = Array(masterPlain)
            let sitePlain = (try? AESGCMBox.open(masterLayer.dropFirst(33), key: site.symmetricKey)).map(Array.init) ?? []
            return [
                FuzzInput.with(0, token), FuzzInput.with(1, masterLayer), FuzzInput.with(2, sitePlain),
                FuzzInput.with(0, "AA=="), FuzzInput.with(0, "QQ==abcd"), FuzzInput.with(3, Array(repeating: 0, count: 40)),
            ]
        },
        run: { bytes in
            let world = FuzzWorld.shared
            let input = FuzzInput(bytes)
            let text: String
            switch input.selector % 4 {
            case 0:
                text = String(decoding: input.rest, as: UTF8.self)
            case 1:
                text = Base64.encode(header(0, TokenVersion.v4.rawValue, keyID: keyIDs.master) + gcm(input.rest, world.masterKey), alphabet: .url)
            case 2:
                var master = [UInt8]()
                master.appendBigEndian(FuzzWorld.nowMillis + 3_600_000)
                master.appendBigEndian(FuzzWorld.nowMillis)
                master.appendBigEndian(Int32(0))
                master.append(1)
                master.appendBigEndian(Int32(0))
                master.appendBigEndian(Int32(0))
                master.appendBigEndian(keyIDs.site)
                master += gcm(input.rest, world.siteKey)
                text = Base64.encode(header(0, TokenVersion.v4.rawValue, keyID: keyIDs.master) + gcm(master, world.masterKey), alphabet: .url)
            default:
                var token: [UInt8] = [TokenVersion.v2.rawValue]
                token.appendBigEndian(keyIDs.master)
                text = Base64.encode(token + cbc(input.rest, world.masterKey))
            }
            if let token = try? AdvertisingToken.decode(text, keys: world.keys), token.rawUID.count != 32, token.rawUID.count != 33 {
                return "decoded an advertising token whose raw UID is \(token.rawUID.count) bytes"
            }
            // Validate runs the same decoder, then compares with an identity.
            _ = world.snapshot.validateToken(
                ValidateTokenRequest(token: .string(text), identity: IdentityFields(email: .string("user@example.com"))),
                client: world.snapshot.clients.clients[0]
            )
            return nil
        }
    )
}
