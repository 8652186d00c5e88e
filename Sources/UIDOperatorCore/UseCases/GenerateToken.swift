import UIDProtocol

/// `POST /v2/token/generate`.
public struct GenerateTokenRequest: Sendable {
    public var identity: IdentityFields
    public var tcfConsentString: JSONField

    public init(identity: IdentityFields, tcfConsentString: JSONField = .absent) {
        self.identity = identity
        self.tcfConsentString = tcfConsentString
    }
}

public enum TokenOutcome: Sendable, Equatable {
    case tokens(IdentityTokens)
    case optOut
    case insufficientUserConsent
}

extension OperatorSnapshot {
    public func generateToken(_ request: GenerateTokenRequest, client: ClientKey, nowMillis now: Int64) -> Result<TokenOutcome, OperatorFailure> {
        let identity: IdentityHash
        switch request.identity.identityHash(phoneSupport: config.phoneSupport) {
        case .success(let hash): identity = hash
        case .failure(let failure): return .failure(failure)
        }
        if config.scope == .euid, request.tcfConsentString != .absent {
            guard case .string(let text) = request.tcfConsentString, let consent = try? TCFConsentString(text) else {
                return .failure(.clientError("User consent is invalid"))
            }
            guard consent.allowsProcessing(vendor: config.tcfVendorID, requiredPurposes: TCFConsentString.euidRequiredPurposes) else {
                return .success(.insufficientUserConsent)
            }
        }
        let resolved = resolve(identity)
        if isOptedOut(type: identity.type, firstLevelHash: resolved.firstLevelHash, forRefresh: false) {
            return .success(.optOut)
        }
        let subject = TokenSubject(
            type: identity.type, firstLevelHash: resolved.firstLevelHash,
            publisher: PublisherIdentity(siteID: client.siteID), privacyBits: .generated, establishedMillis: now
        )
        return issueTokens(for: subject, nowMillis: now).map(TokenOutcome.tokens)
    }
}
