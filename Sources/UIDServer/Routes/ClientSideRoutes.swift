import Foundation
import Hummingbird
import UIDOperatorCore
import UIDProtocol

/// `/v2/token/client-generate`: pages and apps generate tokens with a site's public key, no API key.
struct ClientSideRoutes: Sendable {
    let holder: SnapshotHolder
    let clock: OperatorClock
    let originPolicy: OriginPolicy

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v2/token/client-generate") { request, _ in await generate(request) }
    }

    func generate(_ request: Request) async -> Response {
        guard let body = await RequestBody.read(request, limit: APIResponse.maxClientSideBodyBytes) else { return APIResponse.tooLarge }
        guard !body.isEmpty else { return APIResponse.clientError("json payload expected but not found") }
        let payload: ClientSidePayload
        do {
            payload = try JSONDecoder().decode(ClientSidePayload.self, from: Data(body))
        } catch let error as ClientSidePayload.ShapeError {
            return APIResponse.clientError(error.message)
        } catch {
            let isObject = (try? JSONSerialization.jsonObject(with: Data(body))) is [String: Any]
            return APIResponse.clientError(isObject ? "request body contains invalid argument(s)" : "json payload is not valid")
        }
        let snapshot = holder.current
        let now = clock.nowMillis()
        let cstg = ClientSideGenerateRequest(
            payload: payload.payload, iv: payload.iv, publicKey: payload.publicKey, timestamp: payload.timestamp ?? 0,
            subscriptionID: payload.subscriptionID ?? "", appName: payload.appName, origin: request.headers[.origin]
        )
        let result = snapshot.clientSideGenerate(cstg, originPolicy: originPolicy, nowMillis: now)
        RequestObservation.current?.tokenResponse(
            .clientSideGenerate, siteID: snapshot.keypairs[cstg.subscriptionID]?.siteID, outcome: result.map(\.outcome), request: request
        )
        switch result {
        case .failure(let failure):
            return APIResponse.failure(failure)
        case .success(let result):
            let sealed = ResponseEnvelope.sealRefresh(json: result.outcome.responseJSON(), responseKey: result.sharedSecret)
            return RequestBody.encryptedResponse(sealed, binary: false)
        }
    }
}

/// The request as the SDKs send it. Unknown fields and wrong types are rejected with a 400 that
/// names the field (the reference fails those with a 500).
struct ClientSidePayload: Decodable {
    struct ShapeError: Error {
        let message: String
    }

    let payload: String?
    let iv: String?
    let publicKey: String?
    let timestamp: Int64?
    let subscriptionID: String?
    let appName: String?

    static let fields = ["payload", "iv", "public_key", "timestamp", "subscription_id", "app_name"]

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        if let unknown = container.allKeys.first(where: { !Self.fields.contains($0.stringValue) }) {
            throw ShapeError(message: "unexpected field in request: \(unknown.stringValue)")
        }
        func string(_ name: String) throws -> String? {
            switch container.field(name) {
            case .absent, .null: return nil
            case .string(let value): return value
            case .notAString: throw ShapeError(message: "\(name) must be a string")
            }
        }
        payload = try string("payload")
        iv = try string("iv")
        publicKey = try string("public_key")
        subscriptionID = try string("subscription_id")
        appName = try string("app_name")
        let timestampKey = AnyKey("timestamp")
        if try !container.contains(timestampKey) || container.decodeNil(forKey: timestampKey) {
            timestamp = nil
        } else {
            guard let value = try? container.decode(Int64.self, forKey: timestampKey) else {
                throw ShapeError(message: "timestamp must be an integer (epoch milliseconds)")
            }
            timestamp = value
        }
    }
}
