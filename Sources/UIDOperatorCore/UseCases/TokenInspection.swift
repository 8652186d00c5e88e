import Foundation
import UIDProtocol

/// What `uid-operator token inspect` reports about a token: everything a support person needs to
/// explain why it works or fails, and nothing that identifies the person (no raw UID, no hash).
public struct TokenInspection: Sendable, Equatable, Encodable {
    public struct KeyUse: Sendable, Equatable, Encodable {
        /// `master`, `site` or `refresh`.
        public var role: String
        public var id: Int32
        public var inStore: Bool
        public var keysetID: Int32?
        public var keysetSiteID: Int32?
        public var activates: Int64?
        public var expires: Int64?

        enum CodingKeys: String, CodingKey {
            case role, id
            case inStore = "in_store"
            case keysetID = "keyset_id"
            case keysetSiteID = "keyset_site_id"
            case activates, expires
        }
    }

    /// `advertising_token`, `refresh_token` or `refresh_envelope`; nil when nothing could be read.
    public var kind: String?
    public var version: String?
    public var scope: String?
    public var identityType: String?
    public var siteID: Int32?
    public var siteName: String?
    public var publisherID: Int64?
    public var clientKeyID: Int32?
    public var operatorSiteID: Int32?
    public var operatorKeyID: Int32?
    public var privacyBits: Int32?
    public var clientSideGenerated: Bool?
    /// Epoch milliseconds.
    public var created: Int64?
    public var expires: Int64?
    public var refreshFrom: Int64?
    public var established: Int64?
    public var refreshed: Int64?
    public var expired: Bool?
    public var keys: [KeyUse] = []
    public var optedOut: Bool?
    public var optedOutSince: Int64?
    /// Why the token could not be read in full, in words.
    public var problem: String?

    enum CodingKeys: String, CodingKey {
        case kind, version, scope
        case identityType = "identity_type"
        case siteID = "site_id"
        case siteName = "site_name"
        case publisherID = "publisher_id"
        case clientKeyID = "client_key_id"
        case operatorSiteID = "operator_site_id"
        case operatorKeyID = "operator_key_id"
        case privacyBits = "privacy_bits"
        case clientSideGenerated = "client_side_generated"
        case created, expires
        case refreshFrom = "refresh_from"
        case established, refreshed, expired, keys
        case optedOut = "opted_out"
        case optedOutSince = "opted_out_since"
        case problem
    }
}

extension OperatorSnapshot {
    /// Reads an advertising token, a refresh token, or the 388-character sealed refresh token the
    /// token endpoints hand out, with this snapshot's keys and opt-outs.
    public func inspectToken(_ text: String, nowMillis now: Int64) -> TokenInspection {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        var inspection = TokenInspection()
        if text.utf8.count == SealedRefreshToken.textLength {
            let sealKeyID = Self.sealedRefreshTokenKeyID(text)
            switch Result(catching: { () throws(SealedRefreshToken.Failure) in try SealedRefreshToken.open(text, keys: keys) }) {
            case .success(let contents):
                inspection = inspectRefreshToken(contents.refreshToken, nowMillis: now)
                inspection.kind = "sealed_refresh_token"
                if let sealKeyID { inspection.keys.insert(keyUse("seal", sealKeyID), at: 0) }
                return inspection
            case .failure(.unknownKey(let id)):
                inspection.kind = "sealed_refresh_token"
                inspection.keys = [keyUse("seal", id)]
                inspection.problem = "refresh key \(id) that sealed this envelope is not in the store (expired and removed, or another operator's)"
                return inspection
            case .failure:
                break  // Perhaps a token of the same length: read on.
            }
        }
        let advertising = inspectAdvertisingToken(text, nowMillis: now)
        if advertising.problem == nil { return advertising }
        let refresh = inspectRefreshToken(text, nowMillis: now)
        if refresh.problem == nil { return refresh }
        // Neither read in full: report the reading that got further.
        if advertising.kind != nil { return advertising }
        if refresh.kind != nil { return refresh }
        inspection.problem = "not an advertising token, refresh token or sealed refresh token this store can read"
        return inspection
    }

    /// What advertising and refresh tokens both carry.
    private func describe(_ token: some InspectableToken, as kind: String, in inspection: inout TokenInspection, nowMillis now: Int64) {
        inspection.kind = kind
        inspection.version = Self.versionName(token.version)
        inspection.scope = token.scope.displayName
        inspection.identityType = Self.typeName(token.type)
        inspection.siteID = token.publisher.siteID
        inspection.siteName = sites[token.publisher.siteID]?.name
        inspection.publisherID = token.publisher.publisherID
        inspection.clientKeyID = token.publisher.clientKeyID
        inspection.operatorSiteID = token.operatorIdentity.siteID
        inspection.operatorKeyID = token.operatorIdentity.keyID
        inspection.privacyBits = token.privacyBits.rawValue
        inspection.clientSideGenerated = token.privacyBits.isClientSideGenerated
        inspection.created = token.createdMillis
        inspection.expires = token.expiresMillis
        inspection.established = token.establishedMillis
        inspection.expired = token.expiresMillis < now
    }

    func inspectAdvertisingToken(_ text: String, nowMillis now: Int64) -> TokenInspection {
        var inspection = TokenInspection()
        do {
            let token = try AdvertisingToken.decode(text, keys: keys)
            describe(token, as: "advertising_token", in: &inspection, nowMillis: now)
            inspection.refreshed = token.refreshedMillis
            if token.version != .v2 || token.masterKeyID != 0 { inspection.keys.append(keyUse("master", token.masterKeyID)) }
            if token.version != .v2 || token.siteKeyID != 0 { inspection.keys.append(keyUse("site", token.siteKeyID)) }
            let since = optedOutSince(advertisingID: token.rawUID)
            inspection.optedOut = since != nil
            inspection.optedOutSince = since.flatMap(Self.millis(fromSeconds:))
        } catch .unknownKey(let id) {
            inspection.kind = "advertising_token"
            inspection.keys = [keyUse("master or site", id)]
            inspection.problem = "key \(id) that encrypted this token is not in the store (expired and removed, or another operator's)"
        } catch .decryptionFailed {
            inspection.problem = "the token does not decrypt with the key its header names (altered, or another operator's key with the same id)"
        } catch .scopeOrTypeMismatch {
            inspection.kind = "advertising_token"
            inspection.problem = "the token's header and its raw UID disagree on scope or identity type"
        } catch {
            inspection.problem = "not an advertising token"
        }
        return inspection
    }

    func inspectRefreshToken(_ text: String, nowMillis now: Int64) -> TokenInspection {
        var inspection = TokenInspection()
        let keyID = Self.refreshTokenKeyID(text)
        do {
            let token = try UIDProtocol.RefreshToken.decode(text, keys: keys)
            describe(token, as: "refresh_token", in: &inspection, nowMillis: now)
            let refreshAfter = config.lifetimes.refreshIdentityTokenAfterSeconds.multipliedReportingOverflow(by: 1000)
            let refreshFrom = refreshAfter.overflow ? nil : token.createdMillis.addingReportingOverflow(refreshAfter.partialValue)
            inspection.refreshFrom = refreshFrom.flatMap { $0.overflow ? nil : $0.partialValue }
            if let keyID { inspection.keys.append(keyUse("refresh", keyID)) }
            let since = optedOutSince(firstLevelHash: token.firstLevelHash)
            inspection.optedOut = since != nil
            inspection.optedOutSince = since.flatMap(Self.millis(fromSeconds:))
        } catch .unknownKey(let id) {
            inspection.kind = "refresh_token"
            inspection.keys = [keyUse("refresh", id)]
            inspection.problem = "refresh key \(id) is not in the store's refresh keyset (expired and removed, or another operator's)"
        } catch .decryptionFailed {
            inspection.problem = "the token does not decrypt with the refresh key its header names"
        } catch {
            inspection.problem = "not a refresh token"
        }
        return inspection
    }

    private func keyUse(_ role: String, _ id: Int32) -> TokenInspection.KeyUse {
        guard let key = keys.key(id: id) else { return .init(role: role, id: id, inStore: false) }
        return .init(
            role: role, id: id, inStore: true, keysetID: key.keysetID, keysetSiteID: keys.keysets[key.keysetID]?.siteID,
            activates: key.activatesSeconds, expires: key.expiresSeconds
        )
    }

    /// The key id in a sealed refresh token's clear header: scope byte, then the key id.
    static func sealedRefreshTokenKeyID(_ text: String) -> Int32? {
        guard let bytes = Base64.decode(text) else { return nil }
        var reader = ByteReader(bytes)
        guard reader.readInteger(as: UInt8.self) != nil else { return nil }
        return reader.readInteger(as: Int32.self)
    }

    /// The key id in a refresh token's clear header (V3: after two header bytes; legacy V2: after
    /// the version byte and three timestamps).
    static func refreshTokenKeyID(_ text: String) -> Int32? {
        guard let bytes = Base64.decode(text), bytes.count >= 2 else { return nil }
        var reader = ByteReader(bytes)
        if bytes[1] == TokenVersion.v3.rawValue {
            guard reader.readBytes(2) != nil else { return nil }
        } else if bytes[0] == TokenVersion.v2.rawValue {
            guard reader.readBytes(1 + 8 + 8 + 8) != nil else { return nil }
        } else {
            return nil
        }
        return reader.readInteger(as: Int32.self)
    }

    /// Opt-outs are kept in epoch seconds; the inspection speaks milliseconds throughout.
    static func millis(fromSeconds seconds: Int64) -> Int64? {
        let (millis, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        return overflow ? nil : millis
    }

    static func versionName(_ version: TokenVersion) -> String {
        switch version {
        case .v2: "v2"
        case .v3: "v3"
        case .v4: "v4"
        }
    }

    static func typeName(_ type: IdentityType) -> String {
        type == .email ? "email" : "phone"
    }
}

/// The fields advertising and refresh tokens share, read alike by `inspectToken`.
protocol InspectableToken {
    var version: TokenVersion { get }
    var scope: IdentityScope { get }
    var type: IdentityType { get }
    var publisher: PublisherIdentity { get }
    var operatorIdentity: OperatorIdentity { get }
    var privacyBits: PrivacyBits { get }
    var createdMillis: Int64 { get }
    var expiresMillis: Int64 { get }
    var establishedMillis: Int64 { get }
}

extension AdvertisingToken: InspectableToken {}
extension UIDProtocol.RefreshToken: InspectableToken {}
