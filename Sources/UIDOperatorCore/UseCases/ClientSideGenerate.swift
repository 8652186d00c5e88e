import UIDProtocol

/// `/v2/token/client-generate` once the server has opened the encrypted payload
/// (docs/PROTOCOL.md#client-side-generate): hashes only, raw identities are never sent client-side.
public struct ClientSideGenerateRequest: Sendable, Equatable {
    public var emailHash: String?
    public var phoneHash: String?

    public init(emailHash: String?, phoneHash: String?) {
        self.emailHash = emailHash
        self.phoneHash = phoneHash
    }
}

extension OperatorSnapshot {
    /// The key pair that opens a client-side request, if the caller may use it: a known
    /// subscription, the key pair and its site enabled, and the page's origin (or the app's name)
    /// one the site allows. Checked before anything is decrypted, in the reference's order.
    public func clientSideKeypair(
        subscriptionID: String, appName: String?, origin: String?, originPolicy: OriginPolicy
    ) -> Result<ClientSideKeypair, OperatorFailure> {
        guard let keypair = keypairs[subscriptionID] else { return .failure(.clientError("bad subscription_id")) }
        // A disabled key pair, or any key pair of a disabled site, is refused alike.
        guard !keypair.disabled, isSiteEnabled(keypair.siteID) else { return .failure(OperatorFailure(.unauthorized, "Unauthorized")) }
        let site = sites[keypair.siteID]
        if let appName {
            guard originPolicy.isAllowed(appName: appName, allowedAppNames: site?.appNames ?? []) else {
                return .failure(OperatorFailure(.invalidAppName, "unexpected app name"))
            }
        } else {
            guard originPolicy.isAllowed(origin: origin, allowedDomains: site?.domainNames ?? []) else {
                return .failure(OperatorFailure(.invalidHTTPOrigin, "unexpected http origin"))
            }
        }
        return .success(keypair)
    }

    /// Tokens for the identity in an opened request to `keypair` (from `clientSideKeypair`).
    public func clientSideGenerate(
        _ request: ClientSideGenerateRequest, keypair: ClientSideKeypair, nowMillis now: Int64
    ) -> Result<TokenOutcome, OperatorFailure> {
        let identity: IdentityHash
        switch (request.emailHash, request.phoneHash) {
        case (_, .some) where !config.phoneSupport:
            return .failure(.clientError("phone support not enabled"))
        case (.some(let hash), nil):
            guard let decoded = IdentityHash(kind: .emailHash, value: hash) else { return .failure(.invalidIdentifier) }
            identity = decoded
        case (nil, .some(let hash)):
            guard let decoded = IdentityHash(kind: .phoneHash, value: hash) else { return .failure(.invalidIdentifier) }
            identity = decoded
        default:
            return .failure(.clientError(config.phoneSupport ? "please provide exactly one of: email_hash, phone_hash" : "please provide email_hash"))
        }

        let resolved = resolve(identity)
        if isOptedOut(type: identity.type, firstLevelHash: resolved.firstLevelHash, forRefresh: false) { return .success(.optOut) }
        let subject = TokenSubject(
            type: identity.type, firstLevelHash: resolved.firstLevelHash, publisher: PublisherIdentity(siteID: keypair.siteID),
            privacyBits: .clientSideGenerated, establishedMillis: now
        )
        return issueTokens(for: subject, nowMillis: now).map(TokenOutcome.tokens)
    }
}
