import ArgumentParser
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import UIDOperatorCore
import UIDProtocol
import UIDServer
import UIDStore

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the operator's HTTP API.")

    @OptionGroup var store: StoreOptions

    @OptionGroup(title: "Logs and metrics") var observability: ObservabilityOptions

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8080

    @Option(help: "Identity environment written into v4 raw UIDs and API keys.")
    var identityEnvironment: IdentityEnvironment?

    @Flag(help: "Issue v3 raw UIDs (33 bytes, scope/type prefix) instead of v2.")
    var identityV3 = false

    @Option(help: "Advertising token lifetime in seconds (default \(TokenLifetimes.privateOperatorDefaults.identityTokenExpiresAfterSeconds)).")
    var identityTokenExpiresAfterSeconds: Int64?

    @Option(help: "Refresh token lifetime in seconds (default \(TokenLifetimes.privateOperatorDefaults.refreshTokenExpiresAfterSeconds)).")
    var refreshTokenExpiresAfterSeconds: Int64?

    @Option(help: "Seconds after which clients should refresh (default \(TokenLifetimes.privateOperatorDefaults.refreshIdentityTokenAfterSeconds)).")
    var refreshIdentityTokenAfterSeconds: Int64?

    @Option(help: "Most identifiers one identity-map request may carry (default \(OperatorConfig().identityMapMaxBatchSize)).")
    var identityMapMaxBatchSize: Int?

    @Option(help: "Most advertising ids one opt-out status request may carry (default \(OperatorConfig().optOutStatusMaxRequestSize)).")
    var optoutStatusMaxRequestSize: Int?

    @Option(help: "How often to poll the store for opt-outs and configuration changes, in milliseconds (default \(BackgroundSchedule().storeSyncIntervalMillis)).")
    var syncIntervalMs: Int?

    @Option(help: "Reload a configuration or salt change up to this many milliseconds after noticing it, at random, so a large fleet does not read it all at once (default \(BackgroundSchedule().storeReloadSpreadMillis)).")
    var reloadSpreadMs: Int?

    @Flag(inversion: .prefixedNo, help: "Rotate keys and salts on schedule (see the rotation settings of the config file).")
    var rotation = true

    @Option(help: "Public Suffix List used to check client-side generation origins.")
    var publicSuffixList = PublicSuffixList.defaultPath

    @OptionGroup(title: "Connections") var connections: ConnectionLimitOptions

    @Option(name: .customLong("optout-image-minimum"), help: ArgumentHelp(
        "Embedded store: once it holds this many opt-outs, keep an image of the opt-out index beside it (about 80 bytes an opt-out) and start from that image, reading only the opt-outs recorded after it (default \(SQLiteStore.defaultOptOutImageMinimum)).",
        valueName: "count"
    ))
    var optOutImageMinimum = SQLiteStore.defaultOptOutImageMinimum

    @Flag(name: .customLong("no-optout-image"), help: "Embedded store: keep no opt-out index image; every start reads and sorts every opt-out.")
    var noOptOutImage = false

    @Flag(help: "Add POST /bench/echo, which answers with the request body: the baseline `uid-bench` compares endpoints with.")
    var benchmarkEchoRoute = false

    func run() async throws {
        // Randomness is opened now: a process short of descriptors fails here, not on a request.
        do { try SecureRandom.prepare() } catch { throw CommandFailure("Cannot start: \(error)") }
        // Before any thread allocates: batch requests then reuse their memory instead of faulting it in again.
        let allocatorTuned = AllocatorTuning.apply(environment: ProcessInfo.processInfo.environment)
        // Precedence: this node's flags, then the store's runtime settings, then the file, then the
        // defaults (`OperatorConfig`, `BackgroundSchedule`).
        let file = try store.loadConfig()
        var connectionLimits = try connections.limits(file: file)
        let shutdownGrace = try connections.shutdownGrace(file: file)
        var base = try file.applied(to: OperatorConfig())
        if let identityMapMaxBatchSize { base.identityMapMaxBatchSize = identityMapMaxBatchSize }
        if let optoutStatusMaxRequestSize { base.optOutStatusMaxRequestSize = optoutStatusMaxRequestSize }
        guard base.identityMapMaxBatchSize > 0, base.optOutStatusMaxRequestSize > 0 else {
            throw ValidationError("Batch size limits must be positive")
        }
        var schedule = file.applied(to: BackgroundSchedule())
        if let syncIntervalMs { schedule.storeSyncIntervalMillis = syncIntervalMs }
        if let reloadSpreadMs { schedule.storeReloadSpreadMillis = reloadSpreadMs }
        var flags = RuntimeSettings()
        flags.identityScope = store.scope?.name
        flags.identityEnvironment = identityEnvironment?.name
        flags.identityV3 = identityV3 ? true : nil
        flags.identityTokenExpiresAfterSeconds = identityTokenExpiresAfterSeconds
        flags.refreshTokenExpiresAfterSeconds = refreshTokenExpiresAfterSeconds
        flags.refreshIdentityTokenAfterSeconds = refreshIdentityTokenAfterSeconds
        let effective: @Sendable (RuntimeSettings) throws -> OperatorConfig = { [base, flags] stored in
            try stored.merging(flags).applied(to: base)
        }
        let seedConfig: OperatorConfig
        do {
            seedConfig = try effective(RuntimeSettings())
        } catch {
            throw ValidationError("Invalid settings: \(error)")
        }

        observability.bootstrapLogging()
        var logger = Logger(label: "uid-operator")
        logger.logLevel = observability.logLevel
        let descriptors = DescriptorLimit.raiseSoftLimit()
        connectionLimits.maxConnections = DescriptorLimit.connectionCap(requested: connectionLimits.maxConnections, softLimit: descriptors)
        try await PortCheck.ensureAvailable(host: host, port: port)
        logger.info("Starting uid-operator \(OperatorVersion.current)", metadata: [
            "store": "\(self.store.storeDescription)", "address": "\(host):\(port)",
            "allocator": "\(allocatorTuned ? "thresholds set" : "as the environment sets it")",
        ])
        logger.info("Connection limits", metadata: [
            "max_connections": "\(connectionLimits.maxConnections)", "open_files": "\(descriptors.map(String.init) ?? "unknown")",
        ])
        let store = try await self.store.open(
            scope: seedConfig.scope, environment: seedConfig.environment, logger: logger, optOutImageMinimum: noOptOutImage ? nil : max(optOutImageMinimum, 1)
        )
        let started = Date()
        let state = try await store.loadState(includingSalts: true, includingOptOuts: true)
        let config: OperatorConfig
        do {
            config = try effective(state.runtimeSettings)
        } catch {
            throw CommandFailure("The store's runtime settings are invalid (fix them with `uid-operator config set`): \(error)")
        }
        let snapshot = try OperatorSnapshot(config: config, contents: state.contents)
        var loaded: Logger.Metadata = [
            "buckets": "\(snapshot.salts.count)", "clients": "\(snapshot.clients.clients.count)",
            "optouts": "\(snapshot.optOuts.count)", "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(started)))",
        ]
        if let report = (store as? SQLiteStore)?.lastOptOutLoad {
            loaded["optouts_from"] = "\(report.source.rawValue)"
            if report.source == .image { loaded["optout_rows_after_image"] = "\(report.rowsAfterImage)" }
            if let refusal = report.imageRefusal { loaded["optout_image_refused"] = "\(refusal)" }
        }
        logger.info("Loaded store", metadata: loaded)
        (store as? SQLiteStore)?.whenOptOutImagesWritten { [logger] outcome in
            outcome?.log(to: logger, refreshing: false)
        }
        let suffixes: PublicSuffixList
        do {
            suffixes = try PublicSuffixList.load(path: publicSuffixList)
        } catch {
            throw CommandFailure("Cannot read the Public Suffix List at \(publicSuffixList) (install Debian's publicsuffix package, or pass --public-suffix-list): \(error)")
        }
        var dependencies = OperatorServer.Dependencies(
            holder: SnapshotHolder(snapshot), store: store, originPolicy: OriginPolicy(publicSuffixList: suffixes), logger: logger,
            benchmarkEchoRoute: benchmarkEchoRoute
        )
        dependencies.loadShedder = try connections.loadShedder(file: file)
        let loadSeconds = Date().timeIntervalSince(started)
        observability.configure(&dependencies, clientSide: config.clientSideTokenGenerate, benchmarkEchoRoute: benchmarkEchoRoute)
        let sync = StoreSync(
            store: store, holder: dependencies.holder, status: dependencies.syncStatus,
            schedule: PollSchedule(intervalMillis: Int64(max(schedule.storeSyncIntervalMillis, 10)),
                                   reloadSpreadMillis: Int64(max(schedule.storeReloadSpreadMillis, 0))),
            logger: logger,
            initialVersion: state.version, initialWatermark: state.optOutWatermark,
            configuration: { state in try effective(state.runtimeSettings) }
        )
        var services: [any Service] = [sync]
        if rotation && schedule.rotationEnabled {
            var rotation = RotationService(
                store: store, holder: dependencies.holder, policy: try file.rotationPolicy(),
                checkInterval: .seconds(max(schedule.rotationCheckIntervalSeconds, 1)), logger: logger
            )
            rotation.metrics = dependencies.metrics
            services.append(rotation)
        }
        services += try await observability.services(dependencies, host: host)
        let app = OperatorServer.makeApplication(
            dependencies, host: host, port: port, services: services, connectionLimits: connectionLimits,
            onServerRunning: { [host, config, logger, observability, storeDescription = self.store.storeDescription] port in
                say("uid-operator serving \(config.scope.displayName) on http://\(host):\(port)")
                logger.info("Serving", metadata: observability.startupMetadata(
                    snapshot: snapshot, store: storeDescription, address: "\(host):\(port)", loadSeconds: loadSeconds
                ))
            }
        )
        try await GracefulRun.run(app, grace: shutdownGrace, logger: logger)
        logger.info("uid-operator stopped")
    }
}
