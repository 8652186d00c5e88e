import UIDProtocol

/// What generate, refresh and client-side generate return: the tokens and their times (epoch ms).
public struct IdentityTokens: Sendable, Equatable {
    public var advertisingToken: String
    /// The 388-character sealed refresh token (`SealedRefreshToken`).
    public var refreshToken: String
    public var identityExpiresMillis: Int64
    public var refreshExpiresMillis: Int64
    public var refreshFromMillis: Int64
    /// Base64 of the 32-byte key that will decrypt the answer to the next refresh.
    public var refreshResponseKey: String
}

/// The inputs a token pair is minted from, whether new (generate) or carried over (refresh).
public struct TokenSubject: Sendable {
    public var type: IdentityType
    public var firstLevelHash: [UInt8]
    public var publisher: PublisherIdentity
    public var privacyBits: PrivacyBits
    public var establishedMillis: Int64

    public init(type: IdentityType, firstLevelHash: [UInt8], publisher: PublisherIdentity, privacyBits: PrivacyBits, establishedMillis: Int64) {
        self.type = type
        self.firstLevelHash = firstLevelHash
        self.publisher = publisher
        self.privacyBits = privacyBits
        self.establishedMillis = establishedMillis
    }
}

extension OperatorSnapshot {
    /// Mints a V4 advertising token and a V3 refresh token sealed into its 388-character form
    /// (docs/PROTOCOL.md#token-generate).
    public func issueTokens(for subject: TokenSubject, nowMillis now: Int64) -> Result<IdentityTokens, OperatorFailure> {
        let nowSeconds = now / 1000
        guard let masterKey = keys.activeMasterKey(atSeconds: nowSeconds),
              let refreshKey = keys.activeRefreshKey(atSeconds: nowSeconds),
              let siteKey = keys.activeSiteKey(siteID: subject.publisher.siteID, atSeconds: nowSeconds)
        else { return .failure(.noActiveKey) }

        let identity = resolve(type: subject.type, firstLevelHash: subject.firstLevelHash)
        guard let rawUID = currentRawUID(identity) else { return .failure(.noActiveKey) }

        let lifetimes = config.lifetimes
        let identityExpires = now + lifetimes.identityTokenExpiresAfterSeconds * 1000
        let refreshExpires = now + lifetimes.refreshTokenExpiresAfterSeconds * 1000
        let advertising = AdvertisingToken(
            scope: config.scope, type: subject.type, expiresMillis: identityExpires, createdMillis: now,
            publisher: subject.publisher, privacyBits: subject.privacyBits,
            establishedMillis: subject.establishedMillis, refreshedMillis: now, rawUID: rawUID
        )
        let refresh = RefreshToken(
            scope: config.scope, type: subject.type, expiresMillis: refreshExpires, createdMillis: now,
            publisher: subject.publisher, privacyBits: subject.privacyBits,
            establishedMillis: subject.establishedMillis, firstLevelHash: subject.firstLevelHash
        )
        let responseKey = APIKeyHasher.randomBytes(32)
        let sealedRefreshToken = SealedRefreshToken.seal(
            refreshToken: refresh.encodeV3(refreshKey: refreshKey), responseKey: responseKey,
            scope: config.scope, refreshKey: refreshKey
        )
        return .success(IdentityTokens(
            advertisingToken: advertising.encodeV4(masterKey: masterKey, siteKey: siteKey),
            refreshToken: sealedRefreshToken,
            identityExpiresMillis: identityExpires,
            refreshExpiresMillis: refreshExpires,
            refreshFromMillis: now + lifetimes.refreshIdentityTokenAfterSeconds * 1000,
            refreshResponseKey: Base64.encode(responseKey)
        ))
    }
}
