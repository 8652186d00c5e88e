import Hummingbird
import Logging
import ServiceLifecycle
import UIDOperatorCore
import UIDStore

/// Assembles the HTTP application over a snapshot holder.
public enum OperatorServer {
    public struct Dependencies: Sendable {
        public var holder: SnapshotHolder
        public var store: any OperatorStore
        public var originPolicy: OriginPolicy
        public var clock: OperatorClock
        public var logger: Logger
        public var syncStatus: SyncStatus
        public var staleLimitMillis: Int64
        /// Adds `POST /bench/echo`, the benchmark's baseline.
        public var benchmarkEchoRoute: Bool
        /// Bounds requests in progress per class of endpoint.
        public var loadShedder = LoadShedder()
        /// Request counts, latencies and state (nil: none kept, no `/metrics`).
        public var metrics: OperatorMetrics?
        /// Serve `GET /metrics` on the API's port (false when it has a port of its own).
        public var metricsOnMainPort = true
        /// Writes one line per request (never a key, secret, token or identity).
        public var accessLog: Logger?

        public init(
            holder: SnapshotHolder, store: any OperatorStore, originPolicy: OriginPolicy, clock: OperatorClock = .system, logger: Logger,
            syncStatus: SyncStatus = SyncStatus(), staleLimitMillis: Int64 = 12 * 3_600_000, benchmarkEchoRoute: Bool = false
        ) {
            self.benchmarkEchoRoute = benchmarkEchoRoute
            self.syncStatus = syncStatus
            self.staleLimitMillis = staleLimitMillis
            self.holder = holder
            self.store = store
            self.originPolicy = originPolicy
            self.clock = clock
            self.logger = logger
        }
    }

    public static func makeRouter(_ dependencies: Dependencies) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        var paths = knownPaths(clientSide: dependencies.holder.current.config.clientSideTokenGenerate)
        if dependencies.benchmarkEchoRoute { paths.insert(BenchmarkRoutes.echoPath) }
        let metricsRoute = dependencies.metricsOnMainPort ? metricsRoute(dependencies) : nil
        if metricsRoute != nil { paths.insert(MetricsRoute.path) }
        router.add(middleware: ObservabilityMiddleware(metrics: dependencies.metrics, accessLog: dependencies.accessLog, knownPaths: paths))
        router.add(middleware: ErrorMiddleware(knownPaths: paths))
        router.add(middleware: CORSMiddleware())
        router.add(middleware: LoadSheddingMiddleware(shedder: dependencies.loadShedder))
        let endpoint = EncryptedEndpoint(holder: dependencies.holder, clock: dependencies.clock)
        let keyless = KeylessEndpoint(holder: dependencies.holder, clock: dependencies.clock)
        OpsRoutes(holder: dependencies.holder, status: dependencies.syncStatus, clock: dependencies.clock, staleLimitMillis: dependencies.staleLimitMillis)
            .register(on: router)
        TokenRoutes(endpoint: endpoint, keyless: keyless).register(on: router)
        IdentityMapRoutes(endpoint: endpoint).register(on: router)
        KeyRoutes(endpoint: endpoint).register(on: router)
        OptOutRoutes(endpoint: endpoint, store: dependencies.store, status: dependencies.syncStatus, logger: dependencies.logger).register(on: router)
        if dependencies.holder.current.config.clientSideTokenGenerate {
            ClientSideRoutes(keyless: keyless, originPolicy: dependencies.originPolicy).register(on: router)
        }
        if dependencies.benchmarkEchoRoute {
            BenchmarkRoutes().register(on: router)
        }
        metricsRoute?.register(on: router)
        return router
    }

    static func metricsRoute(_ dependencies: Dependencies) -> MetricsRoute? {
        dependencies.metrics.map {
            MetricsRoute(
                metrics: $0, holder: dependencies.holder, status: dependencies.syncStatus, clock: dependencies.clock,
                staleLimitMillis: dependencies.staleLimitMillis
            )
        }
    }

    /// `GET /metrics` alone, for `serve --metrics-port`.
    public static func makeMetricsApplication(_ dependencies: Dependencies, host: String, port: Int) -> (any Service)? {
        guard let route = metricsRoute(dependencies) else { return nil }
        let router = Router(context: BasicRequestContext.self)
        route.register(on: router)
        return Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "uid-operator-metrics"),
            logger: dependencies.logger
        )
    }

    /// Paths that exist, so a wrong method on them is a 405 rather than a 404.
    public static func knownPaths(clientSide: Bool) -> Set<String> {
        var paths: Set<String> = [
            "/ops/healthcheck", "/ops/status", "/v2/token/generate", "/v2/token/refresh", "/v2/token/validate", "/v2/token/logout",
            "/v2/identity/map", "/v3/identity/map", "/v2/identity/buckets", "/v2/optout/status",
            "/v2/key/latest", "/v2/key/sharing", "/v2/key/bidstream",
        ]
        if clientSide { paths.insert("/v2/token/client-generate") }
        return paths
    }

    public static func makeApplication(
        _ dependencies: Dependencies, host: String, port: Int, services: [any Service] = [],
        connectionLimits: ConnectionLimits = .defaults,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: makeRouter(dependencies),
            server: .guardedHTTP1(limits: connectionLimits, registry: ConnectionRegistry(maxConnections: connectionLimits.maxConnections)),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "uid-operator"),
            services: services,
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: dependencies.logger
        )
    }
}
