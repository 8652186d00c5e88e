import Hummingbird
import UIDOperatorCore
import UIDProtocol

/// What the routes report about their answers: the `status` string of encrypted answers, which
/// the middleware cannot read, and the reference's business metrics.
extension RequestObservation {
    /// Token generation and refresh answers, by site and platform.
    func tokenResponse(
        _ endpoint: BusinessMetrics.TokenEndpoint, siteID: Int32?, outcome: Result<TokenOutcome, OperatorFailure>, request: Request
    ) {
        let status: String
        switch outcome {
        case .success(.tokens): status = "Success"
        case .success(.optOut):
            status = "OptOut"
            answered("optout")
        case .success(.insufficientUserConsent):
            status = "InsufficientUserConsent"
            answered("insufficient_user_consent")
        case .failure(let failure): status = Self.tokenResponseStatus(failure.kind)
        }
        guard let metrics, let siteID else { return }
        let tokenVersion = if case .success(.tokens) = outcome { "V4" } else { "null" }
        let platform = BusinessMetrics.platform(
            clientVersion: request.headers[ObservedHeaders.clientVersion], origin: request.headers[.origin]
        )
        metrics.business.tokenResponses.increment(.init(siteID: siteID, endpoint: endpoint, status: status, tokenVersion: tokenVersion, platform: platform))
    }

    static func tokenResponseStatus(_ kind: OperatorFailure.Kind) -> String {
        switch kind {
        case .clientError: "ClientError"
        case .invalidToken, .refreshError: "InvalidToken"
        case .expiredToken: "ExpiredToken"
        case .noActiveKey: "NoActiveKey"
        case .unavailable: "Unavailable"
        case .invalidClient, .unauthorized: "Unauthorized"
        case .invalidHTTPOrigin: "InvalidHttpOrigin"
        case .invalidAppName: "InvalidAppName"
        }
    }

    /// A refresh that reached a decodable token: its age and version, and whether the advertising
    /// token it replaced had already expired.
    func refreshed(_ token: RefreshedTokenFacts, identityLifetimeSeconds: Int64, nowMillis: Int64, request: Request) {
        site(token.siteID)
        guard let metrics else { return }
        let hasOrigin = request.headers[.origin] != nil
        // The creation time is the token's to claim: anything in Int64 must count, not trap.
        let (elapsed, overflow) = nowMillis.subtractingReportingOverflow(token.createdMillis)
        let sinceRefreshSeconds = overflow ? (token.createdMillis < 0 ? Int64.max / 1000 : 0) : max(elapsed, 0) / 1000
        metrics.business.refreshDurations.record(.init(siteID: token.siteID, hasOrigin: hasOrigin), Double(sinceRefreshSeconds))
        metrics.business.expiredOnRefresh.increment(.init(
            siteID: token.siteID, hasOrigin: hasOrigin, expired: sinceRefreshSeconds > identityLifetimeSeconds
        ))
        metrics.business.refreshTokensReceived.increment(.init(siteID: token.siteID, version: token.version == .v2 ? "v2" : "v3"))
    }

    /// `/v2/token/validate`, with the reference's result names.
    func validated(_ result: Result<Bool, OperatorFailure>, siteID: Int32) {
        guard let metrics else { return }
        let name = switch result {
        case .success(true): "match"
        case .success(false): "mismatch"
        case .failure(let failure) where failure.message == ValidateTokenMessages.unauthorised: "unauthorized"
        case .failure(let failure) where failure.message == ValidateTokenMessages.invalidToken: "invalid_token"
        case .failure: "invalid_input"
        }
        metrics.business.tokenValidate.increment(.init(siteID: siteID, result: name))
    }

    /// Identity map: identifiers per kind, and how many were not mapped and why.
    func identityMapped(path: String, inputs: [(kind: String, count: Int)], invalid: Int, optedOut: Int) {
        guard let metrics else { return }
        for input in inputs where input.count > 0 {
            metrics.business.mapInputs.record(.init(path: path, kind: input.kind), Double(input.count))
        }
        if invalid > 0 { metrics.business.mapUnmapped.increment(.init(path: path, reason: "invalid"), by: invalid) }
        if optedOut > 0 { metrics.business.mapUnmapped.increment(.init(path: path, reason: "optout"), by: optedOut) }
        if invalid > 0 || optedOut > 0 { metrics.business.mapRequestsWithUnmapped.increment(path) }
    }

    func optOutStatusAnswered(inputs: Int, optedOut: Int) {
        guard let metrics else { return }
        metrics.business.optOutStatusInputs.record(inputs)
        metrics.business.optOutStatusOptedOut.record(optedOut)
    }
}

extension RequestObservation {
    func identityMappedV3(_ tally: MapV3Body.Tally) {
        identityMapped(path: "/v3/identity/map", inputs: tally.inputs, invalid: tally.invalid, optedOut: tally.optedOut)
    }
}
