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
        static let configuration = CommandConfiguration(abstract: "Show the stored runtime settings (unset values fall back to files and defaults).")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let settings = try await store.openForAdministration().runtimeSettings()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            say(String(decoding: try encoder.encode(settings), as: UTF8.self))
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
            let merged = try await target.runtimeSettings().merging(change)
            // Check against the defaults a node would combine them with.
            do {
                _ = try merged.applied(to: OperatorConfig(scope: try store.configuredScope()))
            } catch {
                throw ValidationError("Refused: \(error)")
            }
            try await target.setRuntimeSettings(merged)
            say("Runtime settings updated; running nodes apply them within their sync interval.")
        }
    }
}
