import Synchronization
import UIDOperatorCore

/// What the layers of one request learn about it, for its metrics and log lines: set by the
/// observability middleware as a task local, filled in by the routes as they go.
public final class RequestObservation: Sendable {
    @TaskLocal public static var current: RequestObservation?

    public let requestID: String
    let metrics: OperatorMetrics?

    struct Facts {
        var siteID: Int32?
        var clientKeyID: String?
        /// The `status` string of the answer, when a route knows it (`success`, `optout`, …).
        var statusText: String?
    }

    private let facts = Mutex(Facts())

    init(requestID: String, metrics: OperatorMetrics?) {
        self.requestID = requestID
        self.metrics = metrics
    }

    var snapshot: Facts { facts.withLock { $0 } }

    /// The caller's site and key id (never the key or its secret).
    func authenticated(_ client: ClientKey) {
        facts.withLock {
            $0.siteID = client.siteID
            $0.clientKeyID = client.keyID
        }
    }

    func site(_ siteID: Int32) {
        facts.withLock { $0.siteID = siteID }
    }

    func answered(_ statusText: String) {
        facts.withLock { $0.statusText = statusText }
    }

    /// The answer's status unless a route already named a more specific one.
    func answeredIfUnset(_ statusText: String) {
        facts.withLock { if $0.statusText == nil { $0.statusText = statusText } }
    }
}
