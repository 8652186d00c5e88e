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
        let authenticated = request.authenticated
        let invalid = authenticated
            ? OperatorFailure(.invalidToken, "Invalid Token presented")
            : OperatorFailure(.refreshError, "Error refreshing token")
        guard let token = try? UIDProtocol.RefreshToken.decode(request.refreshToken, keys: keys), token.scope == config.scope else {
            return .failure(invalid)
        }
        if token.establishedMillis < Self.refreshCutoffMillis { return .success(.optOut) }
        if token.expiresMillis < now {
            return .failure(authenticated
                ? OperatorFailure(.expiredToken, "Expired Token presented")
                : OperatorFailure(.refreshError, "Error refreshing token"))
        }
        if isOptedOut(type: token.type, firstLevelHash: token.firstLevelHash, forRefresh: true) { return .success(.optOut) }
        let subject = TokenSubject(
            type: token.type, firstLevelHash: token.firstLevelHash, publisher: token.publisher,
            privacyBits: token.privacyBits, establishedMillis: token.establishedMillis
        )
        return issueTokens(for: subject, nowMillis: now).map(TokenOutcome.tokens)
    }
}
