import Logging
import ServiceLifecycle

/// Runs the server until SIGTERM or SIGINT: the listener closes at once, requests in progress
/// get `grace` to finish, then whatever is left is cancelled. Stopping on a signal is a clean
/// exit (status 0) either way.
enum GracefulRun {
    static func run(_ service: some Service, grace: Duration, logger: Logger) async throws {
        var configuration = ServiceGroupConfiguration(
            services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        )
        configuration.maximumGracefulShutdownDuration = grace
        configuration.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: configuration).run()
    }
}
