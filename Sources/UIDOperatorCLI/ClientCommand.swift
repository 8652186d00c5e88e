import ArgumentParser
import Foundation
import UIDOperatorCore
import UIDProtocol
import UIDStore

struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client", abstract: "Manage API clients.",
        subcommands: [Create.self, List.self, Disable.self, Enable.self, RotateSecret.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List clients (never their keys or secrets).")
        @OptionGroup var store: StoreOptions
        @Option(help: "Only the clients of this site.") var siteId: Int32?
        @Flag(help: "Print only the key ids, one per line (e.g. for `client disable --key-id`).") var keyIds = false
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let clients = try await store.openForAdministration().loadConfiguration().clients
                .filter { siteId == nil || $0.siteID == siteId }
                .sorted { ($0.siteID, $0.createdSeconds, $0.keyID) < ($1.siteID, $1.createdSeconds, $1.keyID) }
            if keyIds && !json {
                for client in clients { say(client.keyID) }
                return
            }
            try emit(json: json, clients.map { ["key_id": $0.keyID, "name": $0.name, "site_id": $0.siteID, "roles": $0.roles.map(\.rawValue).sorted(), "disabled": $0.disabled, "created": $0.createdSeconds] },
                     human: TextTable.render(["KEY ID", "SITE", "STATE", "ROLES", "CREATED", "NAME"], clients.map {
                         ["\($0.keyID)", "\($0.siteID)", $0.disabled ? "disabled" : "enabled", $0.roles.map(\.rawValue).sorted().joined(separator: ","),
                          HumanTime.iso8601(seconds: $0.createdSeconds), $0.name]
                     }))
        }
    }

    static func setDisabled(_ disabled: Bool, keyID: String, store options: StoreOptions) async throws {
        let store = try await options.openForAdministration()
        var client = try await client(keyID, in: store)
        client.disabled = disabled
        try await store.updateClient(client)
        say("Client \(keyID) \(disabled ? "disabled" : "enabled").")
    }

    /// Finds a client by key id for the commands that change one.
    static func client(_ keyID: String, in store: any OperatorStore) async throws -> ClientKey {
        guard let client = try await store.loadConfiguration().clients.first(where: { $0.keyID == keyID }) else {
            throw ValidationError("No client with key id \(keyID) (see `client list`)")
        }
        return client
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a client: its key stops working on every node.")
        @OptionGroup var store: StoreOptions
        @Option(help: "The client's key id.") var keyId: String
        func run() async throws { try await ClientCommand.setDisabled(true, keyID: keyId, store: store) }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a client.")
        @OptionGroup var store: StoreOptions
        @Option(help: "The client's key id.") var keyId: String
        func run() async throws { try await ClientCommand.setDisabled(false, keyID: keyId, store: store) }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-secret", abstract: "Give a client a new secret (its envelope key); the old one stops working."
        )
        @OptionGroup var store: StoreOptions
        @Option(help: "The client's key id.") var keyId: String
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let store = try await self.store.openForAdministration()
            let client = try await ClientCommand.client(keyId, in: store)
            let secret = APIKeyHasher.randomBytes(32)
            guard let rotated = ClientKey(keyID: client.keyID, keyHash: client.keyHash, keySalt: client.keySalt, secret: secret, name: client.name,
                                          contact: client.contact, siteID: client.siteID, roles: client.roles, disabled: client.disabled,
                                          serviceID: client.serviceID, createdSeconds: client.createdSeconds) else { return }
            try await store.updateClient(rotated)
            try emit(json: json, ["key_id": keyId, "secret": Base64.encode(secret)],
                     human: "New secret for \(keyId): \(Base64.encode(secret))\nStore it now: it is not shown again.")
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a client and print its API key and secret (shown only this once)."
        )

        @OptionGroup var store: StoreOptions

        @Option(help: "The client's site id (must be > 2).")
        var siteId: Int32

        @Option(help: "Comma-separated roles: GENERATOR, MAPPER, ID_READER, SHARER, OPTOUT, MAINTAINER (reads /ops/status).")
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

        func run() async throws {
            let store = try await self.store.openExisting()
            let scope = try await self.store.scope(for: store)
            let now = OperatorClock.system.nowMillis() / 1000
            if try await !store.loadSites().contains(where: { $0.id == siteId }) {
                try await SiteCommand.addSite(Site(id: siteId, name: "Site \(siteId)", createdSeconds: now), to: store, expiry: try self.store.loadConfig().keyExpiry())
                note("Created site \(siteId) with its own default keyset.")
            }
            let (client, credentials) = InitialDataset.newClient(
                scope: scope, environment: identityEnvironment, siteID: siteId,
                roles: roleNames.compactMap(Role.init(rawValue:)), name: name ?? "Client of site \(siteId)", nowSeconds: now
            )
            try await store.addClient(client)
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
