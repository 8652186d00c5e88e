import UIDProtocol

/// `POST /v2/token/validate`: does this advertising token belong to this identity?
public struct ValidateTokenRequest: Sendable {
    public var token: JSONField
    public var identity: IdentityFields

    public init(token: JSONField, identity: IdentityFields) {
        self.token = token
        self.identity = identity
    }
}

extension OperatorSnapshot {
    /// No opt-out and no expiry check, as with the reference; only the token's own site may ask.
    public func validateToken(_ request: ValidateTokenRequest, client: ClientKey) -> Result<Bool, OperatorFailure> {
        let identity: IdentityHash
        switch request.identity.identityHash(phoneSupport: config.phoneSupport) {
        case .success(let hash): identity = hash
        case .failure(let failure): return .failure(failure)
        }
        guard case .string(let text) = request.token, let token = try? AdvertisingToken.decode(text, keys: keys) else {
            return .failure(.clientError(ValidateTokenMessages.invalidToken))
        }
        let tokenSite = keys.key(id: token.siteKeyID).flatMap { keys.keysets[$0.keysetID] }?.siteID
        guard tokenSite == client.siteID else {
            return .failure(.clientError(ValidateTokenMessages.unauthorised))
        }
        let expected = currentRawUID(resolve(identity))
        return .success(expected == token.rawUID)
    }
}

/// The validate endpoint's own refusals, named so metrics can tell them from bad input.
public enum ValidateTokenMessages {
    public static let invalidToken = "Invalid token"
    public static let unauthorised = "Unauthorised to validate token"
}
