import ArgumentParser
import Foundation
import UIDOperatorCore
import UIDProtocol
import UIDStore

/// Creates and seeds a store without serving it, e.g. before adding sites and clients.
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a new store (keysets, salts, site 999 and a client with every role) and write its credentials.",
        discussion: "With --data-dir the directory is created (mode 0700) and the credentials are written to dev-credentials.json (0600). An existing store is left as it is."
    )

    @OptionGroup var store: StoreOptions

    @Option(help: "Identity environment written into the new client's API key.")
    var identityEnvironment: IdentityEnvironment?

    func run() async throws {
        let file = try store.loadConfig()
        let scope = try store.configuredScope()
        let environment = try identityEnvironment ?? file.environment() ?? .test
        let opened = try await store.open(scope: scope, environment: environment)
        let version = try await opened.version()
        say("Store ready at \(store.storeDescription) (store version \(version)).")
    }
}
