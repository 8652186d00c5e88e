import Foundation
import Hummingbird
import NIOCore
import UIDOperatorCore
import UIDProtocol

/// The frame every authenticated v2 endpoint shares: body limit, API key and role, envelope open,
/// then the handler's JSON sealed back with the caller's secret and nonce. Handlers throw
/// `OperatorFailure`, answered here (see `APIResponse.answering`).
struct EncryptedEndpoint: Sendable {
    let holder: SnapshotHolder
    let clock: OperatorClock
    let rateLimiter = ClientRateLimiter()

    /// What a handler returns: JSON to encrypt.
    enum Outcome: Sendable {
        case json(Data)
        /// JSON already in bytes (`ResponseJSON`), sealed without a copy.
        case jsonBytes([UInt8])
        /// JSON written by `write` straight into the response envelope (large answers: identity
        /// map), about `capacity` bytes of it.
        case jsonWriter(capacity: Int, write: @Sendable (inout ResponseJSON) -> Void)
    }

    struct Call: Sendable {
        let snapshot: OperatorSnapshot
        let client: ClientKey
        let envelope: RequestEnvelope
        let nowMillis: Int64

        /// The request JSON as `T`; a payload that does not fit ends the request with the
        /// reference's error (see `PayloadDecoding`).
        func decode<T: Decodable>(_ type: T.Type, shapeError: OperatorFailure? = nil) throws(OperatorFailure) -> T {
            try PayloadDecoding.decode(type, from: envelope.payload, shapeError: shapeError).get()
        }

        func decode<T: ObjectPayload>(_ type: T.Type, shapeError: OperatorFailure? = nil) throws(OperatorFailure) -> T {
            try PayloadDecoding.decode(type, from: envelope.payload, shapeError: shapeError).get()
        }
    }

    func respond(to request: Request, roles: [Role], handler: (Call) async throws -> Outcome) async -> Response {
        switch await admit(request, roles: roles) {
        case .refused(let response): return response
        case .admitted(let admitted):
            return await APIResponse.answering {
                let envelope = try admitted.openEnvelope()
                let outcome = try await handler(admitted.call(envelope))
                return seal(outcome, envelope: envelope, client: admitted.client)
            }
        }
    }

    /// A request past the checks that need no envelope, its body read.
    struct Admitted: Sendable {
        let snapshot: OperatorSnapshot
        let client: ClientKey
        let body: [UInt8]
        let binary: Bool
        let nowMillis: Int64

        func openEnvelope() throws(OperatorFailure) -> RequestEnvelope {
            switch RequestEnvelope.open(body: body, binary: binary, secret: client.envelopeKey, nowMillis: nowMillis, window: snapshot.config.clockWindow) {
            case .success(let opened): opened
            case .failure(let error): throw OperatorFailure.clientError(error.message(scope: snapshot.config.scope))
            }
        }

        func call(_ envelope: RequestEnvelope) -> Call {
            Call(snapshot: snapshot, client: client, envelope: envelope, nowMillis: nowMillis)
        }
    }

    enum Admission {
        case refused(Response)
        case admitted(Admitted)
    }

    func admit(_ request: Request, roles: [Role]) async -> Admission {
        // Everything that needs no body is checked first: a declared size over the limit, then the
        // key. A caller without a key never gets the server to hold its body.
        let headers = RequestHeaderScan(request.headers)
        if RequestBody.declaresMoreThan(APIResponse.maxBodyBytes, contentLength: headers.contentLength) { return .refused(APIResponse.tooLarge) }
        let snapshot = holder.current
        guard let client = Authentication.authorize(authorizationHeader: headers.authorization, roles: roles, in: snapshot) else {
            return .refused(APIResponse.unauthorized)
        }
        RequestObservation.current?.authenticated(client)
        if let refusal = rateLimiter.refusal(for: client, config: snapshot.config, nowMillis: clock.nowMillis()) { return .refused(refusal) }
        guard let body = await RequestBody.read(request) else { return .refused(APIResponse.tooLarge) }
        return .admitted(Admitted(snapshot: snapshot, client: client, body: body, binary: RequestBody.isBinary(contentType: headers.contentType), nowMillis: clock.nowMillis()))
    }

    func seal(_ outcome: Outcome, envelope: RequestEnvelope, client: ClientKey) -> Response {
        switch outcome {
        case .json(let json): seal(Array(json), envelope: envelope, client: client)
        case .jsonBytes(let json): seal(json, envelope: envelope, client: client)
        case .jsonWriter(let capacity, let write):
            RequestBody.encryptedResponse(
                ResponseEnvelope.seal(nonce: envelope.nonce, secret: client.envelopeKey, nowMillis: clock.nowMillis(), jsonCapacity: capacity) {
                    ResponseJSON.append(to: &$0, write)
                },
                binary: envelope.binaryResponse
            )
        }
    }

    private func seal(_ json: [UInt8], envelope: RequestEnvelope, client: ClientKey) -> Response {
        let sealed = ResponseEnvelope.seal(json: json, nonce: envelope.nonce, secret: client.envelopeKey, nowMillis: clock.nowMillis())
        return RequestBody.encryptedResponse(sealed, binary: envelope.binaryResponse)
    }
}

enum RequestBody {
    /// The raw bytes whatever the Content-Type (the Python SDK posts base64 as form data, and `+`
    /// must never become a space); nil when over `limit` (1 MiB for keyed endpoints).
    static func read(_ request: Request, limit: Int = APIResponse.maxBodyBytes) async -> [UInt8]? {
        do {
            var buffer = try await request.body.collect(upTo: limit)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch {
            return nil
        }
    }

    /// A `Content-Length` over `limit` is refused before reading (a body sent without one is still
    /// cut off at the limit while it is read).
    static func declaresMoreThan(_ limit: Int, contentLength declared: String?) -> Bool {
        guard let declared else { return false }
        guard let length = Int(declared) else { return true }
        return length > limit
    }

    /// Only an exact `application/octet-stream` (no parameters, any letter case) selects binary framing.
    static func isBinary(contentType type: String?) -> Bool {
        guard let type else { return false }
        let expected = "application/octet-stream".utf8
        // Compared byte by byte, ASCII letters folded: no lowercased copy per request.
        return type.utf8.count == expected.count
            && zip(type.utf8, expected).allSatisfy { (0x41...0x5A ~= $0 ? $0 | 0x20 : $0) == $1 }
    }

    /// The answers' header sets, built once: a literal would build its fields again per response.
    private static let binaryHeaders: HTTPFields = [.contentType: "application/octet-stream"]
    private static let textHeaders: HTTPFields = [.contentType: "text/plain"]

    /// `sealed` is nil only if a key was not an AES key, which loading and envelope checks rule
    /// out: answered as a server error rather than trapping.
    static func encryptedResponse(_ sealed: [UInt8]?, binary: Bool) -> Response {
        guard let sealed else { return APIResponse.unexpected }
        if binary {
            return Response(status: .ok, headers: binaryHeaders, body: ResponseBody(byteBuffer: ByteBuffer(bytes: sealed)))
        }
        return Response(status: .ok, headers: textHeaders, body: ResponseBody(byteBuffer: base64Buffer(sealed)))
    }

    /// Base64 of `bytes`, encoded straight into a buffer of the exact size (no intermediate string).
    static func base64Buffer(_ bytes: [UInt8]) -> ByteBuffer {
        let length = Base64.encodedLength(bytes.count, padding: true)
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        _ = bytes.withUnsafeBufferPointer { input in
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { output in
                // The buffer holds at least `length` bytes; `min` only keeps the pointer honest.
                let target = UnsafeMutableBufferPointer(start: output.baseAddress?.assumingMemoryBound(to: UInt8.self), count: min(length, output.count))
                guard target.count == length else { return 0 }
                return Base64.encode(input, alphabet: .standard, into: target)
            }
        }
        return buffer
    }
}
