import Logging
import UIDStore

/// Stores reached over the network.
enum NetworkStores {
    /// Connects and applies migrations; the connection pool lives as long as the process.
    static func open(url: String, logger: Logger) async throws -> any OperatorStore {
        do {
            return try await PostgresStore.connect(url: url, logger: logger)
        } catch {
            throw CommandFailure("Cannot use the PostgreSQL store: \(error)")
        }
    }
}
