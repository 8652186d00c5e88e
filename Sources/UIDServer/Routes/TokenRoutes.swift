import Foundation
import Hummingbird
import UIDOperatorCore
import UIDProtocol

/// `/v2/token/generate`, `/v2/token/refresh`, `/v2/token/validate`.
struct TokenRoutes: Sendable {
    let endpoint: EncryptedEndpoint

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
            switch result {
            case .success(let outcome): return .jsonBytes(outcome.responseJSON())
            case .failure(let failure): return .failure(APIResponse.failure(failure))
            }
        }
    }

    func validate(_ request: Request) async -> Response {
        await endpoint.respond(to: request, roles: [.generator]) { call in
            let payload = try call.decode(ValidatePayload.self)
            let result = call.snapshot.validateToken(payload.request, client: call.client)
            RequestObservation.current?.validated(result, siteID: call.client.siteID)
            switch result {
            case .success(let matches): return .json(try JSONCoding.encoder.encode(Envelope.success(matches)))
            case .failure(let failure): return .failure(APIResponse.failure(failure))
            }
        }
    }

    /// No API key needed; the answer is sealed with the `refresh_response_key` that came with the
    /// token, or sent in clear for a bare legacy token.
    func refresh(_ request: Request) async -> Response {
        guard let body = await RequestBody.read(request, limit: APIResponse.maxRefreshBodyBytes) else { return APIResponse.tooLarge }
        let snapshot = endpoint.holder.current
        let authenticated = Authentication.isKnownClient(request, in: snapshot)
        let text = String(decoding: body, as: UTF8.self)
        let now = endpoint.clock.nowMillis()
        let result = snapshot.refreshToken(body: text, authenticated: authenticated, nowMillis: now)
        if let observation = RequestObservation.current {
            let token = try? result.get().token
            if let token {
                observation.refreshed(token, identityLifetimeSeconds: snapshot.config.lifetimes.identityTokenExpiresAfterSeconds, nowMillis: now, request: request)
            }
            observation.tokenResponse(.refresh, siteID: token?.siteID, outcome: result.map(\.outcome), request: request)
        }
        switch result {
        case .failure(let failure):
            return APIResponse.failure(failure)
        case .success(let result):
            let json = result.outcome.responseJSON()
            guard let key = result.responseKey else {
                return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: json)))
            }
            return RequestBody.encryptedResponse(
                ResponseEnvelope.sealRefresh(json: json, responseKey: key), binary: RequestBody.isBinary(request)
            )
        }
    }
}
