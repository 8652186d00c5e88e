import ArgumentParser
import Foundation
import UIDOperatorCore
import UIDProtocol
import UIDStore

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write the store's data in the reference's layouts.", subcommands: [Core.self]
    )

    struct Core: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write sites, clients, keysets, keys, salts and key pairs in the core layout that `import core` reads.",
            discussion: "DIR is created (mode 0700) and must not already hold a core data set. Files are written 0600: they hold client and key secrets. Opt-outs are not part of core."
        )
        @OptionGroup var store: StoreOptions
        @Argument(help: "The folder to write.") var directory: String

        func run() async throws {
            let source = try await store.openExisting()
            let contents = try await source.loadIdentityData()
            let settings = try await source.runtimeSettings()
            let runtime = try Self.runtimeConfig(settings, scope: try await store.scope(for: source))
            try CoreExport.write(contents, runtimeConfig: runtime, to: URL(fileURLWithPath: directory, isDirectory: true), nowMillis: OperatorClock.system.nowMillis())
            say("Exported \(contents.sites.count) sites, \(contents.clients.count) clients, \(contents.keysets.count) keysets, \(contents.keys.count) keys, \(contents.salts.count) salt buckets, \(contents.keypairs.count) client-side key pairs to \(directory).")
        }

        /// The store's token lifetimes and environment, when any of them was set there.
        static func runtimeConfig(_ settings: RuntimeSettings, scope: IdentityScope) throws -> CoreImport.RuntimeConfigValues? {
            let stored: [Any?] = [
                settings.identityTokenExpiresAfterSeconds, settings.refreshTokenExpiresAfterSeconds, settings.refreshIdentityTokenAfterSeconds,
                settings.sharingTokenExpirySeconds, settings.identityEnvironment,
            ]
            guard stored.contains(where: { $0 != nil }) else { return nil }
            let config: OperatorConfig
            do {
                config = try settings.applied(to: OperatorConfig(scope: scope))
            } catch {
                throw CommandFailure("The store's runtime settings are invalid: \(error)")
            }
            return CoreImport.RuntimeConfigValues(
                identityTokenExpiresAfterSeconds: config.lifetimes.identityTokenExpiresAfterSeconds,
                refreshTokenExpiresAfterSeconds: config.lifetimes.refreshTokenExpiresAfterSeconds,
                refreshIdentityTokenAfterSeconds: config.lifetimes.refreshIdentityTokenAfterSeconds,
                sharingTokenExpirySeconds: config.sharingTokenExpirySeconds,
                maxBidstreamLifetimeSeconds: config.maxBidstreamLifetimeSeconds, maxSharingLifetimeSeconds: config.maxSharingLifetimeSeconds,
                identityEnvironment: config.environment.name
            )
        }
    }
}
