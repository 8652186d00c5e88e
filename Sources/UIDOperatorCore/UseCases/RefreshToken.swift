@preconcurrency import Crypto
import UIDProtocol

/// The outcome of `POST /v2/token/refresh`, plus the key the answer must be encrypted with
/// (nil for the legacy bare-token body, which is answered in clear).
public struct RefreshResult: Sendable {
    public var outcome: TokenOutcome
    public var responseKey: SymmetricKey?
    /// What the presented token said about itself, for metrics (nothing that identifies a person).
    public var token: RefreshedTokenFacts?
}

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

extension OperatorSnapshot {
    /// Identities established before this instant are no longer refreshed (answered as opt-out).
    static let refreshCutoffMillis: Int64 = 1_615_222_800_000  // 2021-03-08T17:00:00Z

    /// `authenticated`: the caller presented a known API key. Browsers do not, and get the generic
    /// `error` status for invalid and expired tokens, as with the reference.
    public func refreshToken(body: String, authenticated: Bool, nowMillis now: Int64) -> Result<RefreshResult, OperatorFailure> {
        var tokenText = body
        var responseKey: SymmetricKey?
        if body.utf8.count == RefreshEnvelope.textLength {
            switch Result(catching: { () throws(RefreshEnvelope.Failure) in try RefreshEnvelope.open(body, keys: keys) }) {
            case .success(let contents):
                tokenText = contents.refreshToken
                responseKey = contents.responseKey
            case .failure(.notBase64):
                return .failure(.clientError("Invalid body: Body is not valid base64."))
            case .failure(.unknownKey(let id)):
                return .failure(.clientError("Invalid key: Generator of this token (Key ID: \(id)) does not exist."))
            case .failure(.decryptionFailed):
                return .failure(.clientError("Invalid data: Check encryption method and encryption key."))
            case .failure(.invalidPayload):
                return .failure(.clientError("Invalid format: Payload is not valid json or missing required data."))
            }
        }

        let invalid = authenticated
            ? OperatorFailure(.invalidToken, "Invalid Token presented")
            : OperatorFailure(.refreshError, "Error refreshing token")
        guard let token = try? UIDProtocol.RefreshToken.decode(tokenText, keys: keys), token.scope == config.scope else {
            return .failure(invalid)
        }
        let facts = RefreshedTokenFacts(siteID: token.publisher.siteID, version: token.version, createdMillis: token.createdMillis)
        if token.establishedMillis < Self.refreshCutoffMillis {
            return .success(RefreshResult(outcome: .optOut, responseKey: responseKey, token: facts))
        }
        if token.expiresMillis < now {
            return .failure(authenticated
                ? OperatorFailure(.expiredToken, "Expired Token presented")
                : OperatorFailure(.refreshError, "Error refreshing token"))
        }
        if isOptedOut(type: token.type, firstLevelHash: token.firstLevelHash, forRefresh: true) {
            return .success(RefreshResult(outcome: .optOut, responseKey: responseKey, token: facts))
        }
        let subject = TokenSubject(
            type: token.type, firstLevelHash: token.firstLevelHash, publisher: token.publisher,
            privacyBits: token.privacyBits, establishedMillis: token.establishedMillis
        )
        return issueTokens(for: subject, nowMillis: now).map { RefreshResult(outcome: .tokens($0), responseKey: responseKey, token: facts) }
    }
}
