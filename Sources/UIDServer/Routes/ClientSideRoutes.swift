import Foundation
import Hummingbird
import UIDOperatorCore
import UIDProtocol

/// `/v2/token/client-generate`: pages and apps generate tokens with a site's public key, no API key.
/// The server checks the key pair with the core, opens the encrypted payload, and seals the answer
/// with the same ECDH secret.
struct ClientSideRoutes: Sendable {
    let keyless: KeylessEndpoint
    let originPolicy: OriginPolicy

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v2/token/client-generate") { request, _ in await generate(request) }
    }

    func generate(_ request: Request) async -> Response {
        await keyless.respond(to: request, bodyLimit: APIResponse.maxClientSideBodyBytes) { call in
            let payload = try ClientSidePayload.decode(call.body)
            let snapshot = call.snapshot
            let subscriptionID = payload.subscriptionID ?? ""
            do throws(OperatorFailure) {
                return try generate(payload, request: request, snapshot: snapshot, nowMillis: call.nowMillis)
            } catch let failure {
                RequestObservation.current?.tokenResponse(
                    .clientSideGenerate, siteID: snapshot.keypairs[subscriptionID]?.siteID, outcome: .failure(failure), request: request
                )
                throw failure
            }
        }
    }

    private func generate(
        _ payload: ClientSidePayload, request: Request, snapshot: OperatorSnapshot, nowMillis: Int64
    ) throws(OperatorFailure) -> Response {
        let keypair = try snapshot.clientSideKeypair(
            subscriptionID: payload.subscriptionID ?? "", appName: payload.appName, origin: request.headers[.origin], originPolicy: originPolicy
        ).get()
        let sealed = ClientSideEnvelope.Sealed(
            payload: payload.payload, iv: payload.iv, publicKey: payload.publicKey, timestamp: payload.timestamp ?? 0, appName: payload.appName
        )
        let opened: ClientSideEnvelope.Opened
        switch ClientSideEnvelope.open(sealed, privateKey: keypair.privateKey) {
        case .success(let result): opened = result
        case .failure(let failure): throw OperatorFailure.clientError(failure.message)
        }
        guard let hashes = try? JSONDecoder().decode(ClientSideHashes.self, from: opened.payload) else {
            throw OperatorFailure.clientError("encrypted payload contains invalid json")
        }
        let outcome = try snapshot.clientSideGenerate(hashes.request, keypair: keypair, nowMillis: nowMillis).get()
        RequestObservation.current?.tokenResponse(.clientSideGenerate, siteID: keypair.siteID, outcome: .success(outcome), request: request)
        return RequestBody.encryptedResponse(ResponseEnvelope.sealWithKeyOnly(json: outcome.responseJSON(), key: opened.sharedSecret), binary: false)
    }
}

/// The decrypted payload.
struct ClientSideHashes: Decodable {
    let request: ClientSideGenerateRequest

    enum CodingKeys: String, CodingKey {
        case emailHash = "email_hash"
        case phoneHash = "phone_hash"
    }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        request = ClientSideGenerateRequest(
            emailHash: try container.decodeIfPresent(String.self, forKey: .emailHash),
            phoneHash: try container.decodeIfPresent(String.self, forKey: .phoneHash)
        )
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

    /// The body as JSON, or the reference's 400 for an empty body, a body that is not a JSON
    /// object, and fields of the wrong type (named).
    static func decode(_ body: [UInt8]) throws(OperatorFailure) -> ClientSidePayload {
        guard !body.isEmpty else { throw OperatorFailure.clientError("json payload expected but not found") }
        do {
            return try JSONDecoder().decode(ClientSidePayload.self, from: Data(body))
        } catch let error as ShapeError {
            throw OperatorFailure.clientError(error.message)
        } catch {
            let isObject = (try? JSONSerialization.jsonObject(with: Data(body))) is [String: Any]
            throw OperatorFailure.clientError(isObject ? "request body contains invalid argument(s)" : "json payload is not valid")
        }
    }

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
