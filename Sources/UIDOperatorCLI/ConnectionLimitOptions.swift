import ArgumentParser
import NIOCore
import UIDServer

/// `serve`'s connection limits and shutdown deadline: flags win over the configuration file.
struct ConnectionLimitOptions: ParsableArguments {
    static let defaultSeconds = (idle: Int64(60), header: Int64(10), body: Int64(30), shutdownGrace: Int64(10))

    @Option(help: "Close a connection with no request in progress after this many seconds (default 60).")
    var idleTimeoutSeconds: Int64?

    @Option(help: "Seconds a client has to send a request's line and headers once it starts (default 10).")
    var headerTimeoutSeconds: Int64?

    @Option(help: "Seconds a client has to send a request's body once its headers are in (default 30).")
    var bodyTimeoutSeconds: Int64?

    @Option(help: "Most open connections (default 10000, lowered to fit the descriptor limit).")
    var maxConnections: Int?

    @Option(help: "Requests in progress per class of endpoint (token, key, batch) before more are answered 503 (default 512).")
    var maxInFlightRequests: Int?

    @Option(help: "On SIGTERM, seconds to let requests in progress finish before stopping (default 10).")
    var shutdownGraceSeconds: Int64?

    func limits(file: OperatorConfigFile) throws -> ConnectionLimits {
        let idle = idleTimeoutSeconds ?? file.httpIdleTimeoutSeconds ?? Self.defaultSeconds.idle
        let header = headerTimeoutSeconds ?? file.httpHeaderTimeoutSeconds ?? Self.defaultSeconds.header
        let body = bodyTimeoutSeconds ?? file.httpBodyTimeoutSeconds ?? Self.defaultSeconds.body
        let connections = maxConnections ?? file.httpMaxConnections ?? ConnectionLimits.defaults.maxConnections
        let dayInSeconds: Int64 = 86_400
        guard (1...dayInSeconds).contains(idle), (1...dayInSeconds).contains(header), (1...dayInSeconds).contains(body) else {
            throw ValidationError("Connection timeouts must be between 1 second and 1 day")
        }
        guard connections > 0 else { throw ValidationError("The connection limit must be positive") }
        return ConnectionLimits(
            idleTimeout: .seconds(idle), headerTimeout: .seconds(header), bodyTimeout: .seconds(body), maxConnections: connections
        )
    }

    func loadShedder(file: OperatorConfigFile) throws -> LoadShedder {
        let limit = maxInFlightRequests ?? file.maxInFlightRequests ?? LoadShedder.defaultMaxInFlight
        guard limit > 0 else { throw ValidationError("The in-flight request limit must be positive") }
        return LoadShedder(maxInFlight: limit)
    }

    func shutdownGrace(file: OperatorConfigFile) throws -> Duration {
        let seconds = shutdownGraceSeconds ?? file.shutdownGraceSeconds ?? Self.defaultSeconds.shutdownGrace
        guard (0...3_600).contains(seconds) else { throw ValidationError("The shutdown grace period must be between 0 and 3600 seconds") }
        return .seconds(seconds)
    }
}
