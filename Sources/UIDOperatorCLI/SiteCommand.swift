import ArgumentParser
import Foundation
import UIDOperatorCore
import UIDProtocol
import UIDStore

struct SiteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "site", abstract: "Manage participant sites.",
        subcommands: [Create.self, Update.self, List.self, Enable.self, Disable.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List sites.")
        @OptionGroup var store: StoreOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let sites = try await store.openForAdministration().loadSites().sorted { $0.id < $1.id }
            try emit(json: json, sites.map { ["id": $0.id, "name": $0.name, "enabled": $0.enabled, "domain_names": $0.domainNames, "app_names": $0.appNames] },
                     human: TextTable.render(["SITE", "STATE", "NAME", "DOMAIN NAMES", "APP NAMES"], sites.map {
                         ["\($0.id)", $0.enabled ? "enabled" : "disabled", $0.name, $0.domainNames.joined(separator: ","), $0.appNames.joined(separator: ",")]
                     }))
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a site again, with its clients and key pairs.")
        @OptionGroup var store: StoreOptions
        @Option(help: "The site's id.") var siteId: Int32
        func run() async throws { try await SiteCommand.setEnabled(true, siteID: siteId, store: store) }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable a site: its clients get 401 and its client-side key pairs stop working (running nodes apply it within their sync interval)."
        )
        @OptionGroup var store: StoreOptions
        @Option(help: "The site's id.") var siteId: Int32
        func run() async throws { try await SiteCommand.setEnabled(false, siteID: siteId, store: store) }
    }

    static func setEnabled(_ enabled: Bool, siteID: Int32, store options: StoreOptions) async throws {
        let store = try await options.openForAdministration()
        guard var site = try await store.loadSites().first(where: { $0.id == siteID }) else { throw ValidationError("No site \(siteID)") }
        site.enabled = enabled
        try await store.updateSite(site)
        say("Site \(siteID) \(enabled ? "enabled" : "disabled").")
    }

    /// Every site gets its own default keyset, so its tokens are encrypted under its own key.
    /// Returns the new keyset's id.
    @discardableResult
    static func addSite(_ site: Site, to store: any OperatorStore, expiry: KeyExpiry) async throws -> Int32 {
        var created: Int32 = 0
        try await store.addSite(site) { keysetID, keyID in
            created = keysetID
            return (InitialDataset.siteKeyset(siteID: site.id, keysetID: keysetID, nowSeconds: site.createdSeconds),
                    InitialDataset.newKey(id: keyID, keysetID: keysetID, nowSeconds: site.createdSeconds, expiry: expiry))
        }
        return created
    }

    static func list(_ text: String?) -> [String]? {
        text.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    }

    static func show(_ site: Site, keysetID: Int32?, json: Bool) throws {
        if json {
            var object: [String: Any] = ["id": site.id, "name": site.name, "enabled": site.enabled,
                                         "domain_names": site.domainNames, "app_names": site.appNames]
            if let keysetID { object["keyset_id"] = keysetID }
            say(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
        } else {
            say("Site \(site.id) \"\(site.name)\"\(site.enabled ? "" : " (disabled)")")
            say("  domain names: \(site.domainNames.isEmpty ? "-" : site.domainNames.joined(separator: ", "))")
            say("  app names:    \(site.appNames.isEmpty ? "-" : site.appNames.joined(separator: ", "))")
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a site with its own default keyset.")

        @OptionGroup var store: StoreOptions
        @Option(help: "The new site's id (must be > 2).") var siteId: Int32
        @Option(help: "A name for the site.") var name: String
        @Option(help: "Comma-separated domain names pages may generate tokens from.") var domainNames: String?
        @Option(help: "Comma-separated app names (Android ids, iOS bundle or App Store ids).") var appNames: String?
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            guard siteId > 2 else { throw ValidationError("--site-id must be greater than 2 (1 and 2 are reserved)") }
        }

        func run() async throws {
            let store = try await self.store.openForAdministration()
            guard try await !store.loadSites().contains(where: { $0.id == siteId }) else {
                throw ValidationError("Site \(siteId) already exists; use `site update`")
            }
            let site = Site(id: siteId, name: name, domainNames: SiteCommand.list(domainNames) ?? [],
                            appNames: SiteCommand.list(appNames) ?? [], createdSeconds: OperatorClock.system.nowMillis() / 1000)
            let keysetID = try await SiteCommand.addSite(site, to: store, expiry: try self.store.loadConfig().keyExpiry())
            try SiteCommand.show(site, keysetID: keysetID, json: json)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a site's name, domain names or app names (lists are replaced).")

        @OptionGroup var store: StoreOptions
        @Option(help: "The site's id.") var siteId: Int32
        @Option(help: "A new name.") var name: String?
        @Option(help: "Comma-separated domain names (replaces the list; empty string clears it).") var domainNames: String?
        @Option(help: "Comma-separated app names (replaces the list; empty string clears it).") var appNames: String?
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let store = try await self.store.openForAdministration()
            guard var site = try await store.loadSites().first(where: { $0.id == siteId }) else {
                throw ValidationError("No site \(siteId)")
            }
            if let name { site.name = name }
            if let domains = SiteCommand.list(domainNames) { site.domainNames = domains }
            if let apps = SiteCommand.list(appNames) { site.appNames = apps }
            try await store.updateSite(site)
            try SiteCommand.show(site, keysetID: nil, json: json)
        }
    }
}

struct KeypairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keypair", abstract: "Manage client-side token generation key pairs.",
        subcommands: [Create.self, List.self, Disable.self, Enable.self]
    )

    static func setDisabled(_ disabled: Bool, subscriptionID: String, store: StoreOptions) async throws {
        guard try await store.openForAdministration().setKeypairDisabled(subscriptionID: subscriptionID, disabled: disabled) else {
            throw ValidationError("No key pair \(subscriptionID)")
        }
        say("Key pair \(subscriptionID) \(disabled ? "disabled" : "enabled").")
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List key pairs (public keys only).")
        @OptionGroup var store: StoreOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let keypairs = try await store.openForAdministration().loadConfiguration().keypairs.sorted { $0.siteID < $1.siteID }
            try emit(json: json, keypairs.map { ["subscription_id": $0.subscriptionID, "site_id": $0.siteID, "public_key": $0.publicKeyText, "disabled": $0.disabled] },
                     human: TextTable.render(["SUBSCRIPTION ID", "SITE", "STATE", "PUBLIC KEY"], keypairs.map {
                         [$0.subscriptionID, "\($0.siteID)", $0.disabled ? "disabled" : "enabled", $0.publicKeyText]
                     }))
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a key pair (its requests get 401).")
        @OptionGroup var store: StoreOptions
        @Option(help: "The key pair's subscription id.") var subscriptionId: String
        func run() async throws { try await KeypairCommand.setDisabled(true, subscriptionID: subscriptionId, store: store) }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a key pair.")
        @OptionGroup var store: StoreOptions
        @Option(help: "The key pair's subscription id.") var subscriptionId: String
        func run() async throws { try await KeypairCommand.setDisabled(false, subscriptionID: subscriptionId, store: store) }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a P-256 key pair for a site and print its subscription id and public key for the SDKs."
        )

        @OptionGroup var store: StoreOptions
        @Option(help: "The site the key pair generates tokens for.") var siteId: Int32
        @Option(help: "Identity environment of the key prefix.") var identityEnvironment: IdentityEnvironment = .test
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let store = try await self.store.openExisting()
            let scope = try await self.store.scope(for: store)
            guard let site = try await store.loadSites().first(where: { $0.id == siteId }) else {
                throw ValidationError("No site \(siteId); create it first with `site create`")
            }
            let keypair = ClientSideKeypair.generate(siteID: siteId, scope: scope, environment: identityEnvironment, nowSeconds: OperatorClock.system.nowMillis() / 1000)
            try await store.addKeypair(keypair)
            if json {
                let object: [String: Any] = ["subscription_id": keypair.subscriptionID, "public_key": keypair.publicKeyText, "site_id": siteId]
                say(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            } else {
                say("Created a client-side key pair for site \(siteId) (\(site.name)).")
                say("  subscription id: \(keypair.subscriptionID)")
                say("  public key:      \(keypair.publicKeyText)")
                if site.domainNames.isEmpty && site.appNames.isEmpty {
                    say("The site has no domain or app names yet: add them with `site update` or every request is refused.")
                }
            }
        }
    }
}
