import Foundation
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

    /// The URL without its password, for messages.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? "the PostgreSQL store"
    }
}
