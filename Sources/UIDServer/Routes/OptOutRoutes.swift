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
    /// Where refused writes are reported, for the health check.
    let status: SyncStatus
    let logger: Logger

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v2/token/logout") { request, _ in await logout(request) }
        router.post("/v2/optout/status") { request, _ in await status(request) }
    }

    /// The opt-out is committed to the store before the answer, then visible to this node at once.
    func logout(_ request: Request) async -> Response {
        await endpoint.respond(to: request, roles: [.optout]) { call in
            let payload = try call.decode(GeneratePayload.self)
            let record = try call.snapshot.optOutRecord(for: payload.request.identity, nowMillis: call.nowMillis).get()
            do {
                try await StoreDeadline.run { [store] in try await store.recordOptOut(record) }
            } catch {
                // Not acknowledged, so the caller retries: the store is down or refusing writes.
                logger.error("Opt-out could not be stored", metadata: ["error": "\(error)"])
                status.writeFailed(error, nowMillis: call.nowMillis)
                throw OperatorFailure.storeUnavailable
            }
            status.writeSucceeded()
            endpoint.holder.update {
                $0.addingOptOut(firstLevelHash: record.firstLevelHash, advertisingID: record.advertisingID, optedOutSinceSeconds: record.optedOutSinceSeconds)
            }
            return .json(try JSONCoding.encoder.encode(StatusResponse.success(["optout": "OK"])))
        }
    }

    func status(_ request: Request) async -> Response {
        await endpoint.respondOnBatchPool(to: request, roles: [.mapper, .sharer, .idReader]) { call in
            let payload = try call.decode(OptOutStatusPayload.self, shapeError: .clientError("Invalid request body"))
            guard let ids = payload.advertisingIDs else { throw OperatorFailure.clientError("Required Parameter Missing: advertising_ids") }
            let found = try call.snapshot.optOutStatus(advertisingIDs: ids).get()
            RequestObservation.current?.optOutStatusAnswered(inputs: ids.count, optedOut: found.count)
            let body = ["opted_out": found.map { OptedOut(advertising_id: $0.advertisingID, opted_out_since: $0.optedOutSinceMillis) }]
            return .json(try JSONCoding.encoder.encode(StatusResponse.success(body)))
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
