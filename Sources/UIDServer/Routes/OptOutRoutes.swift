import Foundation
import Hummingbird
import Logging
import UIDOperatorCore
import UIDProtocol
import UIDStore

/// `/v2/token/logout` (OPTOUT) records opt-outs; `/v2/optout/status` reports them by raw UID.
struct OptOutRoutes: Sendable {
    let endpoint: EncryptedEndpoint
    let store: any OperatorStore
    let logger: Logger

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v2/token/logout") { request, _ in await logout(request) }
        router.post("/v2/optout/status") { request, _ in await status(request) }
    }

    /// The opt-out is committed to the store before the answer, then visible to this node at once.
    func logout(_ request: Request) async -> Response {
        await endpoint.respond(to: request, roles: [.optout]) { call in
            let payload = try call.decode(GeneratePayload.self)
            let record: OptOutRecord
            switch call.snapshot.optOutRecord(for: payload.request.identity, nowMillis: call.nowMillis) {
            case .success(let made): record = made
            case .failure(let failure): return .failure(APIResponse.failure(failure))
            }
            do {
                try await store.recordOptOut(record)
            } catch {
                logger.error("Opt-out could not be stored", metadata: ["error": "\(error)"])
                return .failure(APIResponse.error(.internalServerError, "unknown", "The opt-out could not be stored; retry the request"))
            }
            endpoint.holder.update {
                $0.addingOptOut(firstLevelHash: record.firstLevelHash, advertisingID: record.advertisingID, optedOutSinceSeconds: record.optedOutSinceSeconds)
            }
            return .json(try JSONCoding.encoder.encode(Envelope.success(["optout": "OK"])))
        }
    }

    func status(_ request: Request) async -> Response {
        await endpoint.respond(to: request, roles: [.mapper, .sharer, .idReader]) { call in
            let payload = try call.decode(OptOutStatusPayload.self, shapeError: APIResponse.clientError("Invalid request body"))
            guard let ids = payload.advertisingIDs else {
                return .failure(APIResponse.clientError("Required Parameter Missing: advertising_ids"))
            }
            switch call.snapshot.optOutStatus(advertisingIDs: ids) {
            case .failure(let failure):
                return .failure(APIResponse.failure(failure))
            case .success(let found):
                RequestObservation.current?.optOutStatusAnswered(inputs: ids.count, optedOut: found.count)
                let body = ["opted_out": found.map { OptedOut(advertising_id: $0.advertisingID, opted_out_since: $0.optedOutSinceMillis) }]
                return .json(try JSONCoding.encoder.encode(Envelope.success(body)))
            }
        }
    }

    struct OptedOut: Encodable {
        let advertising_id: String
        let opted_out_since: Int64
    }
}

struct OptOutStatusPayload: Decodable {
    let advertisingIDs: [String]?

    enum CodingKeys: String, CodingKey {
        case advertisingIDs = "advertising_ids"
    }
}
