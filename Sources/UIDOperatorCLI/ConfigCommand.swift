import ArgumentParser
import Foundation
import UIDOperatorCore
import UIDProtocol
import UIDStore

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Show or change the runtime settings every node reads from the store.",
        subcommands: [Show.self, Set.self]
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every setting in effect and where it comes from: the store, the configuration file (--config) or the default.",
            discussion: "A node's own command-line flags win over all three; they are not known here."
        )
        @OptionGroup var store: StoreOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let opened = try await store.openForAdministration()
            let settings = try await opened.runtimeSettings()
            let file = try store.loadConfig()
            let held = try await StoreOptions.scope(of: opened)
            let entries = EffectiveSettings.entries(stored: settings, file: file, storeScope: held)
            try emit(json: json, Dictionary(uniqueKeysWithValues: entries.map { ($0.key, ["value": $0.jsonValue, "source": $0.source.rawValue] as [String: Any]) }),
                     human: TextTable.render(["SETTING", "VALUE", "FROM"], entries.map { [$0.key, $0.text, $0.source.rawValue] }))
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change runtime settings; running nodes apply them within their sync interval.",
            discussion: "The token lifetimes must keep refresh-from ≤ identity expiry ≤ refresh expiry; a change that breaks it is refused."
        )
        @OptionGroup var store: StoreOptions
        @Option var identityTokenExpiresAfterSeconds: Int64?
        @Option var refreshTokenExpiresAfterSeconds: Int64?
        @Option var refreshIdentityTokenAfterSeconds: Int64?
        @Option var sharingTokenExpirySeconds: Int64?
        @Option var maxBidstreamLifetimeSeconds: Int64?
        @Option var maxSharingLifetimeSeconds: Int64?
        @Option(help: "uid2 or euid.") var identityScope: String?
        @Option(help: "true or false: issue v3 raw UIDs.") var identityV3: Bool?
        @Option(help: "test, integ or prod.") var identityEnvironment: String?
        @Option(help: "Requests per second each API key may make (429 past it); 0 removes the limit.") var clientRequestsPerSecond: Int?

        func run() async throws {
            let target = try await store.openForAdministration()
            var change = RuntimeSettings()
            change.identityTokenExpiresAfterSeconds = identityTokenExpiresAfterSeconds
            change.refreshTokenExpiresAfterSeconds = refreshTokenExpiresAfterSeconds
            change.refreshIdentityTokenAfterSeconds = refreshIdentityTokenAfterSeconds
            change.sharingTokenExpirySeconds = sharingTokenExpirySeconds
            change.maxBidstreamLifetimeSeconds = maxBidstreamLifetimeSeconds
            change.maxSharingLifetimeSeconds = maxSharingLifetimeSeconds
            change.identityScope = identityScope
            change.identityV3 = identityV3
            change.identityEnvironment = identityEnvironment
            change.clientRequestsPerSecond = clientRequestsPerSecond
            let merged = try await target.runtimeSettings().merging(change)
            // Check against the defaults a node would combine them with.
            do {
                _ = try merged.applied(to: OperatorConfig(scope: try await store.scope(for: target)))
            } catch {
                throw ValidationError("Refused: \(error)")
            }
            try await target.setRuntimeSettings(merged)
            say("Runtime settings updated; running nodes apply them within their sync interval.")
        }
    }
}
