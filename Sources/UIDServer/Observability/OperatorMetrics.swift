import CoreMetrics
import Prometheus
import Synchronization

/// Every metric the operator exports (docs/METRICS.md), in one Prometheus registry per server.
/// Series known up front are made here; the rest are made on first use and then reused, so the
/// request path only looks up and increments.
public final class OperatorMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    let endpoints: [String: EndpointMetrics]
    let otherEndpoint: EndpointMetrics
    let droppedSeries: CoreMetrics.Counter

    let business: BusinessMetrics
    let state: StateMetrics
    let process: ProcessMetrics

    static let requestDuration = "uid_http_request_duration_seconds"

    /// `paths`: the routes that get their own `path` label; any other path is counted as `other`.
    public init(version: String, paths: Set<String>) {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[Self.requestDuration] = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .milliseconds(2500), .seconds(5),
        ]
        BusinessMetrics.configureBuckets(&factory)
        self.registry = registry
        self.factory = factory
        droppedSeries = CoreMetrics.Counter(label: "uid_metrics_series_dropped_total", factory: factory)
        var endpoints = [String: EndpointMetrics]()
        for path in paths.sorted() {
            endpoints[path] = EndpointMetrics(path: path, factory: factory, dropped: droppedSeries)
        }
        self.endpoints = endpoints
        otherEndpoint = EndpointMetrics(path: "other", factory: factory, dropped: droppedSeries)
        business = BusinessMetrics(factory: factory, dropped: droppedSeries)
        state = StateMetrics(factory: factory)
        process = ProcessMetrics(factory: factory)
        CoreMetrics.Gauge(label: "uid_build_info", dimensions: [("version", version)], factory: factory).record(1)
    }

    func endpoint(for path: String) -> EndpointMetrics {
        endpoints[path] ?? otherEndpoint
    }

    /// The exposition text (Prometheus text format 0.0.4).
    public func render() -> [UInt8] {
        process.refresh()
        var buffer = [UInt8]()
        buffer.reserveCapacity(registry.internalBufferCapacity())
        registry.emit(into: &buffer)
        return buffer
    }
}

/// Requests to one route: a latency histogram, and a count per HTTP code and answer status.
final class EndpointMetrics: Sendable {
    struct Answer: Hashable, Sendable {
        let code: Int
        let status: String
    }

    let path: String
    let duration: CoreMetrics.Timer
    private let answers: CounterFamily<Answer>
    /// The common case, found without a lookup.
    private let success: CoreMetrics.Counter?

    init(path: String, factory: PrometheusMetricsFactory, dropped: CoreMetrics.Counter) {
        self.path = path
        duration = CoreMetrics.Timer(label: OperatorMetrics.requestDuration, dimensions: [("path", path)], factory: factory)
        answers = CounterFamily("uid_http_requests_total", factory: factory, limit: 200, dropped: dropped) { answer in
            [("path", path), ("code", String(answer.code)), ("status", answer.status)]
        }
        success = answers.counter(Answer(code: 200, status: "success"))
    }

    func record(code: Int, status: String, nanoseconds: Int64) {
        duration.recordNanoseconds(nanoseconds)
        if code == 200, status == "success", let success {
            success.increment()
        } else {
            answers.increment(Answer(code: code, status: status))
        }
    }
}
