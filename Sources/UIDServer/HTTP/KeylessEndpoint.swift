import Hummingbird
import UIDOperatorCore

/// The frame of the endpoints browsers and apps call without an API key (refresh, client-side
/// generate): a small body limit, then the handler, whose `OperatorFailure`s are answered as HTTP
/// here like every other endpoint's.
struct KeylessEndpoint: Sendable {
    let holder: SnapshotHolder
    let clock: OperatorClock

    struct Call {
        let request: Request
        let body: [UInt8]
        let snapshot: OperatorSnapshot
        let nowMillis: Int64
    }

    func respond(to request: Request, bodyLimit: Int, handler: (Call) async throws -> Response) async -> Response {
        guard let body = await RequestBody.read(request, limit: bodyLimit) else { return APIResponse.tooLarge }
        let call = Call(request: request, body: body, snapshot: holder.current, nowMillis: clock.nowMillis())
        return await APIResponse.answering { try await handler(call) }
    }
}
