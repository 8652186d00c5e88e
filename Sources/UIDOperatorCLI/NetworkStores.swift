import Logging
import UIDStore

/// Stores reached over the network.
enum NetworkStores {
    static func open(url: String, logger: Logger) async throws -> any OperatorStore {
        throw CommandFailure("PostgreSQL stores are not available in this build")
    }
}
