import Hummingbird
import Logging
import UIDOperatorCore

/// Assembles the HTTP application over a snapshot holder.
public enum OperatorServer {
    public static func makeRouter(holder: SnapshotHolder, clock: OperatorClock = .system) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        let endpoint = EncryptedEndpoint(holder: holder, clock: clock)
        OpsRoutes().register(on: router)
        TokenRoutes(endpoint: endpoint).register(on: router)
        return router
    }

    public static func makeApplication(
        holder: SnapshotHolder, host: String, port: Int, clock: OperatorClock = .system, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: makeRouter(holder: holder, clock: clock),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "uid-operator"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}
