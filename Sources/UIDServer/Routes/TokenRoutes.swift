import Foundation
import Hummingbird
import UIDOperatorCore
import UIDProtocol

/// `/v2/token/generate`, `/v2/token/refresh`, `/v2/token/validate`.
struct TokenRoutes: Sendable {
    let endpoint: EncryptedEndpoint
    let keyless: KeylessEndpoint

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v2/token/generate") { request, _ in await generate(request) }
        router.post("/v2/token/refresh") { request, _ in await refresh(request) }
        router.post("/v2/token/validate") { request, _ in await validate(request) }
    }

    func generate(_ request: Request) async -> Response {
        await endpoint.respond(to: request, roles: [.generator]) { call in
            let payload = try call.decode(GeneratePayload.self)
            let result = call.snapshot.generateToken(payload.request, client: call.client, nowMillis: call.nowMillis)
            RequestObservation.current?.tokenResponse(.generate, siteID: call.client.siteID, outcome: result, request: request)
            return .jsonBytes(try result.get().responseJSON())
        }
    }

    func validate(_ request: Request) async -> Response {
        await endpoint.respond(to: request, roles: [.generator]) { call in
            let payload = try call.decode(ValidatePayload.self)
            let result = call.snapshot.validateToken(payload.request, client: call.client)
            RequestObservation.current?.validated(result, siteID: call.client.siteID)
            return .json(try JSONCoding.encoder.encode(StatusResponse.success(try result.get())))
        }
    }

    /// No API key needed. The server opens the sealed refresh token and seals the answer with the
    /// `refresh_response_key` inside it; a bare legacy token is answered in clear.
    func refresh(_ request: Request) async -> Response {
        await keyless.respond(to: request, bodyLimit: APIResponse.maxRefreshBodyBytes) { call in
            let headers = RequestHeaderScan(request.headers)
            let opened: SealedRefreshToken.RequestToken
            switch SealedRefreshToken.openRequestBody(String(decoding: call.body, as: UTF8.self), keys: call.snapshot.keys) {
            case .success(let body): opened = body
            case .failure(let failure): throw OperatorFailure.clientError(failure.message)
            }
            let refresh = TokenRefreshRequest(
                refreshToken: opened.refreshToken, authenticated: Authentication.isKnownClient(authorizationHeader: headers.authorization, in: call.snapshot)
            )
            let (result, token) = call.snapshot.refreshTokenWithFacts(refresh, nowMillis: call.nowMillis)
            if let observation = RequestObservation.current {
                if let token {
                    observation.refreshed(
                        token, identityLifetimeSeconds: call.snapshot.config.lifetimes.identityTokenExpiresAfterSeconds,
                        nowMillis: call.nowMillis, request: request
                    )
                }
                observation.tokenResponse(.refresh, siteID: token?.siteID, outcome: result, request: request)
            }
            let json = try result.get().responseJSON()
            guard let key = opened.responseKey else {
                return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: json)))
            }
            return RequestBody.encryptedResponse(ResponseEnvelope.sealWithKeyOnly(json: json, key: key), binary: RequestBody.isBinary(contentType: headers.contentType))
        }
    }
}
