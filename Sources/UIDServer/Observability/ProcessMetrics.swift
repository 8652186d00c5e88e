import CoreMetrics
import Foundation
import Prometheus
import ServiceLifecycle

/// Resident memory, open descriptors and CPU time, read from /proc when `/metrics` is read
/// (zero where /proc is missing), and the event-loop lag `EventLoopLagProbe` measures.
final class ProcessMetrics: Sendable {
    private let residentMemory: CoreMetrics.Gauge
    private let openDescriptors: CoreMetrics.Gauge
    private let cpuSeconds: CoreMetrics.Gauge
    private let startTime: CoreMetrics.Gauge
    let eventLoopLag: CoreMetrics.Gauge
    let eventLoopLagHistogram: CoreMetrics.Timer

    init(factory: PrometheusMetricsFactory) {
        residentMemory = CoreMetrics.Gauge(label: "process_resident_memory_bytes", factory: factory)
        openDescriptors = CoreMetrics.Gauge(label: "process_open_fds", factory: factory)
        cpuSeconds = CoreMetrics.Gauge(label: "process_cpu_seconds", factory: factory)
        startTime = CoreMetrics.Gauge(label: "process_start_time_seconds", factory: factory)
        eventLoopLag = CoreMetrics.Gauge(label: "uid_event_loop_lag_seconds", factory: factory)
        eventLoopLagHistogram = CoreMetrics.Timer(label: "uid_event_loop_lag_histogram_seconds", factory: factory)
        startTime.record(Date().timeIntervalSince1970)
    }

    func refresh() {
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let fields = statm.split(separator: " ")
            if fields.count > 1, let pages = Double(fields[1]) { residentMemory.record(pages * pageSize) }
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            // The listing holds one descriptor of its own while it runs.
            openDescriptors.record(max(entries.count - 1, 0))
        }
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let afterName = stat.range(of: ") ", options: .backwards) {
            // Fields after the command name start at field 3; utime and stime are fields 14 and 15.
            let fields = stat[afterName.upperBound...].split(separator: " ")
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            if fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]), ticks > 0 {
                cpuSeconds.record((user + system) / ticks)
            }
        }
    }
}

/// Measures how late a sleeping task wakes up on the executor that runs requests: work that
/// blocks an event loop shows up here before it shows up as latency.
public struct EventLoopLagProbe: Service {
    let metrics: OperatorMetrics
    let interval: Duration

    public init(metrics: OperatorMetrics, interval: Duration = .milliseconds(500)) {
        self.metrics = metrics
        self.interval = interval
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            let clock = ContinuousClock()
            while !Task.isCancelled {
                let started = clock.now
                try? await Task.sleep(for: interval)
                if Task.isCancelled { return }
                let late = max(clock.now - started - interval, .zero)
                let nanoseconds = late.components.seconds * 1_000_000_000 + late.components.attoseconds / 1_000_000_000
                metrics.process.eventLoopLag.record(Double(nanoseconds) / 1e9)
                metrics.process.eventLoopLagHistogram.recordNanoseconds(nanoseconds)
            }
        }
    }
}
