import CoreMetrics
import Prometheus
import Synchronization

/// One metric name whose label values are known only at run time (a site id, an answer's status):
/// each distinct set is made once and then found by key, so a request formats no strings once its
/// series exists. At most `limit` series: past it, new ones are not recorded (and counted), which
/// bounds what a flood of odd values can cost.
final class CounterFamily<Key: Hashable & Sendable>: Sendable {
    private let name: String
    private let factory: PrometheusMetricsFactory
    private let labels: @Sendable (Key) -> [(String, String)]
    private let limit: Int
    private let dropped: CoreMetrics.Counter?
    private let series = Mutex<[Key: CoreMetrics.Counter]>([:])

    init(
        _ name: String, factory: PrometheusMetricsFactory, limit: Int = 2_000, dropped: CoreMetrics.Counter? = nil,
        labels: @escaping @Sendable (Key) -> [(String, String)]
    ) {
        self.name = name
        self.factory = factory
        self.labels = labels
        self.limit = limit
        self.dropped = dropped
    }

    func increment(_ key: Key, by amount: Int = 1) {
        guard let counter = counter(key) else {
            dropped?.increment()
            return
        }
        counter.increment(by: amount)
    }

    func counter(_ key: Key) -> CoreMetrics.Counter? {
        series.withLock { series in
            if let existing = series[key] { return existing }
            guard series.count < limit else { return nil }
            let made = CoreMetrics.Counter(label: name, dimensions: labels(key), factory: factory)
            series[key] = made
            return made
        }
    }
}

/// As `CounterFamily`, for histograms of values (batch sizes, seconds between refreshes).
final class RecorderFamily<Key: Hashable & Sendable>: Sendable {
    private let name: String
    private let factory: PrometheusMetricsFactory
    private let labels: @Sendable (Key) -> [(String, String)]
    private let limit: Int
    private let series = Mutex<[Key: CoreMetrics.Recorder]>([:])

    init(_ name: String, factory: PrometheusMetricsFactory, limit: Int = 2_000, labels: @escaping @Sendable (Key) -> [(String, String)]) {
        self.name = name
        self.factory = factory
        self.labels = labels
        self.limit = limit
    }

    func record(_ key: Key, _ value: Double) {
        let recorder: CoreMetrics.Recorder? = series.withLock { series in
            if let existing = series[key] { return existing }
            guard series.count < limit else { return nil }
            let made = CoreMetrics.Recorder(label: name, dimensions: labels(key), aggregate: true, factory: factory)
            series[key] = made
            return made
        }
        recorder?.record(value)
    }
}

/// As `CounterFamily`, for gauges set when `/metrics` is read (one per keyset, say).
final class GaugeFamily<Key: Hashable & Sendable>: Sendable {
    private let name: String
    private let factory: PrometheusMetricsFactory
    private let labels: @Sendable (Key) -> [(String, String)]
    private let series = Mutex<[Key: CoreMetrics.Gauge]>([:])

    init(_ name: String, factory: PrometheusMetricsFactory, labels: @escaping @Sendable (Key) -> [(String, String)]) {
        self.name = name
        self.factory = factory
        self.labels = labels
    }

    func set(_ key: Key, _ value: Double) {
        let gauge = series.withLock { series in
            if let existing = series[key] { return existing }
            let made = CoreMetrics.Gauge(label: name, dimensions: labels(key), factory: factory)
            series[key] = made
            return made
        }
        gauge.record(value)
    }
}
