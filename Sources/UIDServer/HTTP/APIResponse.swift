import Foundation
import Hummingbird
import UIDOperatorCore

/// The operator's plain (never encrypted) answers: errors and the few clear-text successes.
enum APIResponse {
    static let maxBodyBytes = 1 << 20
    /// Endpoints that need no key take only what they carry, so an anonymous caller cannot make
    /// the server hold a megabyte: a sealed refresh token is 388 characters (a legacy token or a
    /// form-encoded body a little more), a client-side generate request a few hundred bytes.
    static let maxRefreshBodyBytes = 4 << 10
    static let maxClientSideBodyBytes = 16 << 10

    static func json(_ status: HTTPResponse.Status, _ object: some Encodable) -> Response {
        let data = (try? JSONCoding.encoder.encode(object)) ?? Data(#"{"status":"unknown"}"#.utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    /// `{"status":…,"message":…}` in that order, as the reference writes it (an encoder's key
    /// order is not guaranteed).
    static func error(_ status: HTTPResponse.Status, _ statusText: String, _ message: String? = nil) -> Response {
        RequestObservation.current?.answered(statusText)
        var json = ResponseJSON(capacity: 32 + statusText.utf8.count + (message?.utf8.count ?? 0))
        json.literal(#"{"status":"#)
        json.string(statusText)
        if let message {
            json.literal(#","message":"#)
            json.string(message)
        }
        json.literal("}")
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: json.bytes))
        )
    }

    static let unauthorized = error(.unauthorized, "unauthorized")

    /// The one place an `OperatorFailure` becomes HTTP: the status code and the reference's status string.
    static func failure(_ failure: OperatorFailure) -> Response {
        switch failure.kind {
        case .clientError: error(.badRequest, "client_error", failure.message)
        case .invalidToken: error(.badRequest, "invalid_token", failure.message)
        case .expiredToken: error(.badRequest, "expired_token", failure.message)
        case .refreshError: error(.badRequest, "error", failure.message)
        case .noActiveKey: error(.internalServerError, "unknown", failure.message)
        case .unavailable(let seconds): retryable(error(.serviceUnavailable, "unknown", failure.message), afterSeconds: seconds)
        case .invalidClient: error(.unauthorized, "invalid_client", failure.message)
        case .unauthorized: error(.unauthorized, "unauthorized", failure.message)
        case .invalidHTTPOrigin: error(.forbidden, "invalid_http_origin", failure.message)
        case .invalidAppName: error(.forbidden, "invalid_app_name", failure.message)
        }
    }

    private static func retryable(_ response: Response, afterSeconds seconds: Int) -> Response {
        var response = response
        response.headers[.retryAfter] = String(seconds)
        return response
    }

    /// Runs an endpoint's work: an `OperatorFailure` it throws is answered with `failure(_:)`, and
    /// anything else as a 500 rather than escaping to the framework.
    static func answering(_ work: () async throws -> Response) async -> Response {
        do {
            return try await work()
        } catch let operatorFailure as OperatorFailure {
            return failure(operatorFailure)
        } catch {
            return unexpected
        }
    }

    static let unexpected = error(.internalServerError, "unknown", "Unexpected error")

    static func plainText(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static let tooLarge = plainText(.contentTooLarge, "Request Entity Too Large")
}

enum JSONCoding {
    /// Compact, `/` unescaped, as the reference writes JSON.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()
}

/// `{"status":"success","body":…}` or a body-less status such as `optout`.
struct StatusResponse<Body: Encodable>: Encodable {
    let status: String
    let body: Body?

    static func success(_ body: Body) -> StatusResponse { StatusResponse(status: "success", body: body) }
}

extension TokenOutcome {
    /// The JSON that goes inside the encrypted answer, in the reference's field order.
    func responseJSON() -> [UInt8] {
        switch self {
        case .tokens(let tokens):
            var json = ResponseJSON(capacity: 128 + tokens.advertisingToken.utf8.count + tokens.refreshToken.utf8.count)
            json.literal(#"{"status":"success","body":{"advertising_token":"#)
            json.string(tokens.advertisingToken)
            json.literal(#","refresh_token":"#)
            json.string(tokens.refreshToken)
            json.literal(#","identity_expires":"#)
            json.integer(tokens.identityExpiresMillis)
            json.literal(#","refresh_expires":"#)
            json.integer(tokens.refreshExpiresMillis)
            json.literal(#","refresh_from":"#)
            json.integer(tokens.refreshFromMillis)
            json.literal(#","refresh_response_key":"#)
            json.string(tokens.refreshResponseKey)
            json.literal("}}")
            return json.bytes
        case .optOut:
            return Array(#"{"status":"optout"}"#.utf8)
        case .insufficientUserConsent:
            return Array(#"{"status":"insufficient_user_consent"}"#.utf8)
        }
    }
}
