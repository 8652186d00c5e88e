import ArgumentParser
import Foundation
import UIDOperatorCore
import UIDProtocol
import UIDStore

struct ClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client", abstract: "Manage API clients.", subcommands: [Create.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a client and print its API key and secret (shown only this once)."
        )

        @OptionGroup var store: StoreOptions

        @Option(help: "The client's site id (must be > 2).")
        var siteId: Int32

        @Option(help: "Comma-separated roles: GENERATOR, MAPPER, ID_READER, SHARER, OPTOUT.")
        var roles: String

        @Option(help: "A name for the client.")
        var name: String?

        @Option(help: "Identity environment of the key prefix.")
        var identityEnvironment: IdentityEnvironment = .test

        @Flag(help: "Print JSON for scripts.")
        var json = false

        func validate() throws {
            guard siteId > 2 else { throw ValidationError("--site-id must be greater than 2 (1 and 2 are reserved)") }
            let unknown = roleNames.filter { Role(rawValue: $0) == nil || Role(rawValue: $0) == .unknown }
            guard unknown.isEmpty, !roleNames.isEmpty else {
                throw ValidationError("Unknown role(s) \(unknown.joined(separator: ", ")); use GENERATOR, MAPPER, ID_READER, SHARER, OPTOUT")
            }
        }

        var roleNames: [String] {
            roles.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).uppercased() }.filter { !$0.isEmpty }
        }

        func run() throws {
            let scope = try store.scope ?? store.loadConfig().scope() ?? .uid2
            let directory = try store.open(scope: scope, environment: identityEnvironment)
            let now = Clock.nowMillis() / 1000
            if try !directory.store.loadSites().contains(where: { $0.id == siteId }) {
                try SiteCommand.addSite(Site(id: siteId, name: "Site \(siteId)", createdSeconds: now), to: directory.store)
                note("Created site \(siteId) with its own default keyset.")
            }
            let (client, credentials) = InitialDataset.newClient(
                scope: scope, environment: identityEnvironment, siteID: siteId,
                roles: roleNames.compactMap(Role.init(rawValue:)), name: name ?? "Client of site \(siteId)", nowSeconds: now
            )
            try directory.store.addClient(client)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(credentials), as: UTF8.self))
            } else {
                print("Created client \(credentials.keyID) for site \(siteId) with roles \(credentials.roles.joined(separator: ", ")).")
                print("  API key: \(credentials.apiKey)")
                print("  secret:  \(credentials.secret)")
                print("Store them now: the key is kept only as a salted hash.")
            }
        }
    }
}
