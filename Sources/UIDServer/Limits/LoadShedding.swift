import Hummingbird
import Synchronization

/// Requests in progress per class of endpoint, and a bound on each: past it a request is
/// answered 503 with `Retry-After` at once, so queues (and the latency of the requests already
/// admitted) stay bounded under overload. The health and status checks are never shed; batch
/// endpoints are bounded by `BatchWorkPool` as well.
public final class LoadShedder: Sendable {
    public enum RequestClass: Int, CaseIterable, Sendable {
        case token, keys, batch, other

        static func of(path: String) -> RequestClass? {
            if path.hasPrefix("/ops/") { return nil }
            if path.hasPrefix("/v2/token/") { return .token }
            if path.hasPrefix("/v2/key/") { return .keys }
            if path.hasPrefix("/v2/identity/") || path.hasPrefix("/v3/identity/") || path == "/v2/optout/status" { return .batch }
            return .other
        }
    }

    /// In-flight requests allowed per class.
    public let maxInFlight: Int
    /// One counter per class (an `Atomic` cannot sit in an array itself).
    private final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    private let inFlight: [Counter]
    private let shedTotal = Atomic<Int>(0)

    public static let defaultMaxInFlight = 512

    public init(maxInFlight: Int = LoadShedder.defaultMaxInFlight) {
        self.maxInFlight = max(1, maxInFlight)
        inFlight = RequestClass.allCases.map { _ in Counter() }
    }

    /// Requests answered 503 because their class was full.
    public var shed: Int { shedTotal.load(ordering: .relaxed) }

    func admit(_ requestClass: RequestClass) -> Bool {
        let counter = inFlight[requestClass.rawValue]
        if counter.value.add(1, ordering: .relaxed).oldValue < maxInFlight { return true }
        counter.value.subtract(1, ordering: .relaxed)
        shedTotal.add(1, ordering: .relaxed)
        return false
    }

    func release(_ requestClass: RequestClass) {
        inFlight[requestClass.rawValue].value.subtract(1, ordering: .relaxed)
    }
}

struct LoadSheddingMiddleware<Context: RequestContext>: RouterMiddleware {
    let shedder: LoadShedder

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let requestClass = LoadShedder.RequestClass.of(path: request.uri.path) else { return try await next(request, context) }
        guard shedder.admit(requestClass) else { return APIResponse.overloaded() }
        defer { shedder.release(requestClass) }
        return try await next(request, context)
    }
}
