/// A request that cannot be served, with the reference's status semantics. The server layer turns
/// the kind into an HTTP code and status string; the message is shown to the caller as is.
public struct OperatorFailure: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// 400 `client_error`.
        case clientError
        /// 400 `invalid_token` (authenticated refresh callers).
        case invalidToken
        /// 400 `expired_token` (authenticated refresh callers).
        case expiredToken
        /// 400 `error`: what unauthenticated refresh callers get for invalid or expired tokens.
        case refreshError
        /// 500 `unknown`: the operator has no key to encrypt with.
        case noActiveKey
        /// 503 `unknown` with `Retry-After`: the operator is busy, or its store refused a write;
        /// nothing was done, and retrying after that many seconds may work.
        case unavailable(retryAfterSeconds: Int)
        /// 401 `invalid_client`: a reserved site id calling a participant endpoint.
        case invalidClient
        /// 401 `unauthorized` with a message (client-side generation with a disabled key pair).
        case unauthorized
        /// 403 `invalid_http_origin`.
        case invalidHTTPOrigin
        /// 403 `invalid_app_name`.
        case invalidAppName
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public static func clientError(_ message: String) -> OperatorFailure { OperatorFailure(.clientError, message) }

    /// A logout whose opt-out the store did not take (PostgreSQL gone, SQLite read-only or locked).
    public static let storeUnavailable = OperatorFailure(.unavailable(retryAfterSeconds: 5), "The opt-out could not be stored; retry the request")
    /// Past what the operator admits at once: refused at once rather than queued.
    public static func busy(retryAfterSeconds: Int = 1) -> OperatorFailure {
        OperatorFailure(.unavailable(retryAfterSeconds: retryAfterSeconds), "The operator is busy; retry after \(retryAfterSeconds) s")
    }

    static let noActiveKey = OperatorFailure(.noActiveKey, "No active encryption key available")
    static let invalidIdentifier = OperatorFailure.clientError("Invalid Identifier")
    /// Generate, validate and logout with phone support, and identity map v2 always.
    static let exactlyOneIdentityKind = OperatorFailure.clientError(
        "Required Parameter Missing: exactly one of [email, email_hash, phone, phone_hash] must be specified"
    )
}

/// A JSON field as the caller sent it: the reference tells "absent" from "null" in places
/// (a null `tcf_consent_string` is invalid consent; a null `email` counts as absent).
public enum JSONField: Sendable, Equatable {
    case absent
    case null
    case string(String)
    /// Present, but a number, object, array or boolean.
    case notAString

    public var isProvided: Bool {
        switch self {
        case .absent, .null: false
        case .string, .notAString: true
        }
    }
}
