import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import UIDOperatorCore
import UIDServer

enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}

extension Logger.Level: @retroactive ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// `serve`'s logging and metrics options.
struct ObservabilityOptions: ParsableArguments {
    @Option(help: "Log line format: text (human) or json (one object per line, for log shippers).")
    var logFormat: LogFormat = .text

    @Option(help: "Least severe level logged: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Flag(help: "Log one line per request: method, path, status, duration, site id, client key id (never a key, secret, token or identity).")
    var accessLog = false

    @Flag(inversion: .prefixedNo, help: "Keep request metrics and serve GET /metrics (Prometheus text; docs/METRICS.md).")
    var metrics = true

    @Option(help: "Serve /metrics on this port instead of the API's (same --host).")
    var metricsPort: Int?

    func validate() throws {
        if let metricsPort, !(0...65_535).contains(metricsPort) { throw ValidationError("--metrics-port must be 0…65535") }
    }

    /// Routes every logger of the process through the chosen format, each line of a request
    /// carrying its `request_id`. Called once, before anything logs.
    func bootstrapLogging() {
        let level = logLevel
        switch logFormat {
        case .text:
            LoggingSystem.bootstrap({ label, provider in
                var handler = DeferredMetadataLogHandler(StreamLogHandler.standardOutput(label: label, metadataProvider: provider))
                handler.logLevel = level
                return handler
            }, metadataProvider: RequestObservation.metadataProvider)
        case .json:
            LoggingSystem.bootstrap({ label, provider in
                var handler = JSONLogHandler(label: label, metadataProvider: provider)
                handler.logLevel = level
                return handler
            }, metadataProvider: RequestObservation.metadataProvider)
        }
    }
}

extension ObservabilityOptions {
    func configure(_ dependencies: inout OperatorServer.Dependencies, clientSide: Bool, benchmarkEchoRoute: Bool) {
        if metrics {
            var paths = OperatorServer.knownPaths(clientSide: clientSide)
            if benchmarkEchoRoute { paths.insert("/bench/echo") }
            if metricsPort == nil { paths.insert("/metrics") }
            dependencies.metrics = OperatorMetrics(version: OperatorVersion.current, paths: paths)
        }
        dependencies.metricsOnMainPort = metricsPort == nil
        if accessLog {
            var access = Logger(label: "uid-operator.access")
            access.logLevel = logLevel
            dependencies.accessLog = access
        }
    }

    /// The metrics port and the event-loop lag probe, when metrics are on.
    func services(_ dependencies: OperatorServer.Dependencies, host: String) async throws -> [any Service] {
        guard let metrics = dependencies.metrics else { return [] }
        var services: [any Service] = [EventLoopLagProbe(metrics: metrics)]
        if let metricsPort {
            if metricsPort != 0 { try await PortCheck.ensureAvailable(host: host, port: metricsPort) }
            if let app = OperatorServer.makeMetricsApplication(dependencies, host: host, port: metricsPort) { services.append(app) }
        }
        return services
    }

    /// What a person starting the operator needs to see: which build, which data, how much of it,
    /// where it listens, how long loading took.
    func startupMetadata(snapshot: OperatorSnapshot, store: String, address: String, loadSeconds: Double) -> Logger.Metadata {
        [
            "version": .string(OperatorVersion.current), "store": .string(store), "scope": .string(snapshot.config.scope.displayName),
            "environment": .string(snapshot.config.environment.name), "address": .string(address),
            "clients": .stringConvertible(snapshot.clients.clients.count), "sites": .stringConvertible(snapshot.sites.count),
            "keys": .stringConvertible(snapshot.keys.allKeys.count), "salt_buckets": .stringConvertible(snapshot.salts.count),
            "optouts": .stringConvertible(snapshot.optOuts.count + snapshot.recentOptOuts.count),
            "load_seconds": .string(String(format: "%.2f", loadSeconds)),
            "metrics": .string(!metrics ? "off" : metricsPort.map { "/metrics on port \($0)" } ?? "/metrics on the API port"),
            "log_format": .string(logFormat.rawValue),
        ]
    }
}
