import ArgumentParser
import Foundation
import UIDOperatorCore
import UIDProtocol
import UIDStore

struct KeysetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keyset", abstract: "Enable or disable keysets and choose which other sites may download their keys.",
        subcommands: [Enable.self, Disable.self, AllowedSites.self]
    )

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a keyset: its keys are published and, if it is its site's default, encrypt the site's tokens.")
        @OptionGroup var store: StoreOptions
        @Option(parsing: .unconditional, help: "The keyset's id (see `keys list`).") var keysetId: Int32
        @Flag(help: "Print JSON for scripts.") var json = false
        func run() async throws { try await KeysetCommand.setEnabled(true, keysetID: keysetId, store: store, json: json) }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable a keyset: its keys are no longer published or used to encrypt.",
            discussion: "A site whose default keyset is disabled encrypts under the fallback publisher keyset (2). The operator's own keysets (master -1, refresh -2, fallback publisher 2) cannot be disabled."
        )
        @OptionGroup var store: StoreOptions
        @Option(parsing: .unconditional, help: "The keyset's id (see `keys list`).") var keysetId: Int32
        @Flag(help: "Print JSON for scripts.") var json = false
        func run() async throws { try await KeysetCommand.setEnabled(false, keysetID: keysetId, store: store, json: json) }
    }

    struct AllowedSites: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "allowed-sites",
            abstract: "Choose which other sites may download a keyset's keys (to decrypt its tokens).",
            discussion: """
                The keyset's own site always may. --sites lists the others; --nobody shares with no one; --all-id-readers \
                (the default of a new keyset) shares with every ID reader, but with a sharer only when listed.
                """
        )
        @OptionGroup var store: StoreOptions
        @Option(parsing: .unconditional, help: "The keyset's id (see `keys list`).") var keysetId: Int32
        @Option(help: "Comma-separated site ids.") var sites: String?
        @Flag(help: "Share with no other site.") var nobody = false
        @Flag(help: "Share with every ID reader.") var allIdReaders = false
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            guard [sites != nil, nobody, allIdReaders].filter({ $0 }).count == 1 else {
                throw ValidationError("Give exactly one of --sites, --nobody, --all-id-readers")
            }
            if let sites { _ = try Self.parse(sites) }
            guard keysetId != Keyset.masterKeysetID, keysetId != Keyset.refreshKeysetID else {
                throw ValidationError("Keyset \(keysetId) is not shared by site: master keys go to every participant, refresh keys to none")
            }
        }

        static func parse(_ text: String) throws -> [Int32] {
            let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !items.isEmpty else { throw ValidationError("--sites lists no site id; use --nobody to share with no one") }
            let ids = try items.map { item -> Int32 in
                guard let id = Int32(item) else { throw ValidationError("--sites: \"\(item)\" is not a site id") }
                return id
            }
            return Array(Set(ids)).sorted()
        }

        func run() async throws {
            let allowed: [Int32]? = try sites.map(Self.parse) ?? (nobody ? [] : nil)
            let store = try await self.store.openForAdministration()
            guard try await store.setKeysetAllowedSites(keysetID: keysetId, allowedSites: allowed) else { throw ValidationError("No keyset \(keysetId)") }
            let described = allowed.map { $0.isEmpty ? "no other site" : "sites \($0.map(String.init).joined(separator: ", "))" } ?? "every ID reader"
            try emit(json: json, ["keyset_id": keysetId, "allowed_sites": allowed.map { $0 as Any } ?? NSNull()],
                     human: "Keyset \(keysetId) is now shared with \(described).")
        }
    }

    static func setEnabled(_ enabled: Bool, keysetID: Int32, store options: StoreOptions, json: Bool) async throws {
        if !enabled, KeysCommand.Remove.operatorKeysetIDs.contains(keysetID) {
            throw ValidationError("Keyset \(keysetID) is one of the operator's own keysets (master -1, refresh -2, fallback publisher 2) and cannot be disabled")
        }
        let store = try await options.openForAdministration()
        let contents = try await store.loadConfiguration()
        guard let keyset = contents.keysets.first(where: { $0.id == keysetID }) else { throw ValidationError("No keyset \(keysetID)") }
        if enabled, keyset.isDefault, let other = contents.keysets.first(where: { $0.id != keysetID && $0.siteID == keyset.siteID && $0.enabled && $0.isDefault }) {
            // Two enabled default keysets for one site: no node could tell which one encrypts.
            throw CommandFailure("Refused: site \(keyset.siteID) already has an enabled default keyset (\(other.id)); disable it first.")
        }
        guard try await store.setKeysetEnabled(keysetID: keysetID, enabled: enabled) else { throw ValidationError("No keyset \(keysetID)") }
        try emit(json: json, ["keyset_id": keysetID, "enabled": enabled], human: "Keyset \(keysetID) \(enabled ? "enabled" : "disabled").")
    }
}
