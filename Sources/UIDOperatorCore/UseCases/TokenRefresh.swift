import UIDProtocol

/// `POST /v2/token/refresh`, once the server has taken the refresh token out of its sealed form.
public struct TokenRefreshRequest: Sendable {
    /// The V3 (or legacy) refresh token's text.
    public var refreshToken: String
    /// The caller presented a known API key. Browsers do not, and get the generic `error` status
    /// for invalid and expired tokens, as with the reference.
    public var authenticated: Bool

    public init(refreshToken: String, authenticated: Bool) {
        self.refreshToken = refreshToken
        self.authenticated = authenticated
    }
}

extension OperatorSnapshot {
    /// Identities established before this instant are no longer refreshed (answered as opt-out).
    static let refreshCutoffMillis: Int64 = 1_615_222_800_000  // 2021-03-08T17:00:00Z

    public func refreshToken(_ request: TokenRefreshRequest, nowMillis now: Int64) -> Result<TokenOutcome, OperatorFailure> {
        refreshTokenWithFacts(request, nowMillis: now).result
    }

    /// `refreshToken`, plus what the presented token said about itself once it opened (for metrics).
    public func refreshTokenWithFacts(
        _ request: TokenRefreshRequest, nowMillis now: Int64
    ) -> (result: Result<TokenOutcome, OperatorFailure>, token: RefreshedTokenFacts?) {
        let authenticated = request.authenticated
        let invalid = authenticated
            ? OperatorFailure(.invalidToken, "Invalid Token presented")
            : OperatorFailure(.refreshError, "Error refreshing token")
        guard let token = try? UIDProtocol.RefreshToken.decode(request.refreshToken, keys: keys), token.scope == config.scope else {
            return (.failure(invalid), nil)
        }
        let facts = RefreshedTokenFacts(siteID: token.publisher.siteID, version: token.version, createdMillis: token.createdMillis)
        if token.establishedMillis < Self.refreshCutoffMillis { return (.success(.optOut), facts) }
        if token.expiresMillis < now {
            return (.failure(authenticated
                ? OperatorFailure(.expiredToken, "Expired Token presented")
                : OperatorFailure(.refreshError, "Error refreshing token")), nil)
        }
        if isOptedOut(type: token.type, firstLevelHash: token.firstLevelHash, forRefresh: true) { return (.success(.optOut), facts) }
        let subject = TokenSubject(
            type: token.type, firstLevelHash: token.firstLevelHash, publisher: token.publisher,
            privacyBits: token.privacyBits, establishedMillis: token.establishedMillis
        )
        return (issueTokens(for: subject, nowMillis: now).map(TokenOutcome.tokens), facts)
    }
}

/// What a presented refresh token said about itself, for metrics (nothing that identifies a person).
public struct RefreshedTokenFacts: Sendable, Equatable {
    public var siteID: Int32
    public var version: TokenVersion
    public var createdMillis: Int64

    public init(siteID: Int32, version: TokenVersion, createdMillis: Int64) {
        self.siteID = siteID
        self.version = version
        self.createdMillis = createdMillis
    }
}
