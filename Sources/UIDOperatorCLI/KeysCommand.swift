import ArgumentParser
import Foundation
import UIDOperatorCore
import UIDProtocol
import UIDStore

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "List keysets and keys, rotate keys and remove a key.", subcommands: [List.self, Rotate.self, Remove.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keysets with their keys (never the secrets).")
        @OptionGroup var store: StoreOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let contents = try await store.openForAdministration().loadConfiguration()
            let now = OperatorClock.system.nowMillis() / 1000
            let ring = try KeyRing(keysets: contents.keysets, keys: contents.keys)
            let keysets = contents.keysets.sorted { $0.id < $1.id }
            let objects: [[String: Any]] = keysets.map { keyset in
                let active = ring.activeKey(keysetID: keyset.id, atSeconds: now)?.id
                return [
                    "keyset_id": keyset.id, "site_id": keyset.siteID, "name": keyset.name, "enabled": keyset.enabled, "default": keyset.isDefault,
                    "allowed_sites": keyset.allowedSites.map { $0 as Any } ?? NSNull(), "active_key_id": active.map { $0 as Any } ?? NSNull(),
                    "keys": ring.keys(inKeyset: keyset.id).map { ["id": $0.id, "created": $0.createdSeconds, "activates": $0.activatesSeconds, "expires": $0.expiresSeconds] },
                ]
            }
            var rows: [[String]] = []
            for keyset in keysets {
                let active = ring.activeKey(keysetID: keyset.id, atSeconds: now)?.id
                let keysetState = keyset.enabled ? (keyset.isDefault ? "default" : "enabled") : "disabled"
                rows.append(["keyset \(keyset.id)", "\(keyset.siteID)", keysetState, "", "", keyset.name])
                for key in ring.keys(inKeyset: keyset.id) {
                    let state = key.id == active ? "active" : (key.activatesSeconds > now ? "pending" : (key.expiresSeconds <= now ? "expired" : "standby"))
                    rows.append(["  key \(key.id)", "", state, HumanTime.iso8601(seconds: key.activatesSeconds), HumanTime.iso8601(seconds: key.expiresSeconds), ""])
                }
            }
            let human = TextTable.render(["KEYSET / KEY", "SITE", "STATE", "ACTIVATES", "EXPIRES", "NAME"], rows)
            try emit(json: json, objects, human: human)
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a new key to a keyset, activating after a lead time, and retire the older keys after a grace period.",
            discussion: """
                The new key is published to DSPs and sharers at once but used only from its activation, so SDKs that \
                refresh keys hourly hold it before the first token needs it. Older keys keep decrypting until the grace \
                period ends: for the refresh keyset (-2) keep it at least as long as the refresh token lifetime.
                """
        )
        @OptionGroup var store: StoreOptions
        @Option(parsing: .unconditional, help: "The keyset (-1 master, -2 refresh, 2 fallback publisher, or a site's).") var keysetId: Int32
        @Option(help: "Seconds until the new key is used for encryption.") var activatesInSeconds: Int64 = RotationPolicy().activationLeadSeconds
        /// By default the older keys outlive every refresh token they may have encrypted, by a day.
        @Option(help: "Seconds the older keys stay valid after the new key activates.")
        var graceSeconds: Int64 = TokenLifetimes.privateOperatorDefaults.refreshTokenExpiresAfterSeconds + 86_400
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let expiry = try self.store.loadConfig().keyExpiry()
            let store = try await self.store.openForAdministration()
            let now = OperatorClock.system.nowMillis() / 1000
            let activates = now + max(0, activatesInSeconds)
            let key = try await store.rotateKey(keysetID: keysetId, expireOthersAt: activates + max(0, graceSeconds)) { id in
                InitialDataset.newKey(id: id, keysetID: keysetId, createdSeconds: now, activatesSeconds: activates,
                                      expiresSeconds: expiry.expiresSeconds(keysetID: keysetId, activatesSeconds: activates))
            }
            try emit(json: json, ["keyset_id": keysetId, "key_id": key.id, "activates": key.activatesSeconds, "expires": key.expiresSeconds],
                     human: "Key \(key.id) added to keyset \(keysetId); it activates at \(HumanTime.iso8601(seconds: key.activatesSeconds)), older keys expire by \(HumanTime.iso8601(seconds: activates + max(0, graceSeconds))).")
        }
    }
}
