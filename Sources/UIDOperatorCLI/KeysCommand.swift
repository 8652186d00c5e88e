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
            let now = Clock.nowMillis() / 1000
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
        @Option(help: "Seconds until the new key is used for encryption.") var activatesInSeconds: Int64 = 3_600
        @Option(help: "Seconds the older keys stay valid after the new key activates.") var graceSeconds: Int64 = 2_592_000 + 86_400
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let expiry = try self.store.loadConfig().keyExpiry()
            let store = try await self.store.openForAdministration()
            let now = Clock.nowMillis() / 1000
            let activates = now + max(0, activatesInSeconds)
            let key = try await store.rotateKey(keysetID: keysetId, expireOthersAt: activates + max(0, graceSeconds)) { id in
                KeysetKey(id: id, keysetID: keysetId, createdSeconds: now, activatesSeconds: activates,
                          expiresSeconds: expiry.expiresSeconds(keysetID: keysetId, activatesSeconds: activates), secret: APIKeyHasher.randomBytes(32))!
            }
            try emit(json: json, ["keyset_id": keysetId, "key_id": key.id, "activates": key.activatesSeconds, "expires": key.expiresSeconds],
                     human: "Key \(key.id) added to keyset \(keysetId); it activates at \(HumanTime.iso8601(seconds: key.activatesSeconds)), older keys expire by \(HumanTime.iso8601(seconds: activates + max(0, graceSeconds))).")
        }
    }
}

struct SaltCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "salt", abstract: "Rotate salt buckets.", subcommands: [Rotate.self]
    )

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give a fraction of the salt buckets new salts; their old salts become the previous ones.",
            discussion: """
                Runs the schedule the operator follows every day (which also runs on its own in `serve`), with this \
                fraction: among the buckets whose refresh_from has passed and that were last rotated at least \
                --min-age-days ago, the oldest are rotated first; the due buckets left alone move to their next \
                30-day mark. Rotated buckets fall due again in 30 days; identity map v3 reports the previous raw UID \
                for 90 days and refresh_from as the time to remap. A run by hand counts as the day's scheduled run.
                """
        )
        @OptionGroup var store: StoreOptions
        @Option(help: "Fraction of all buckets to rotate (0 < f ≤ 1).") var fraction: Double
        @Option(help: "Days since its last rotation before a bucket may rotate again.") var minAgeDays: Int64 = SaltSchedule().minimumAgeDays
        @Flag(help: "Rotate any bucket, due or not and whatever its age, oldest first (breaks the promise made to mappers).") var includeNotDue = false
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            guard fraction > 0, fraction <= 1 else { throw ValidationError("--fraction must be in (0, 1]") }
            guard minAgeDays >= 0 else { throw ValidationError("--min-age-days must not be negative") }
        }

        func run() async throws {
            let store = try await self.store.openForAdministration()
            let now = Clock.nowMillis()
            let schedule = SaltSchedule(fractionPerDay: fraction, minimumAgeDays: minAgeDays)
            let forced = includeNotDue
            let outcome = try await store.rotateSalts(
                nowMillis: now, dueBeforeMillis: includeNotDue ? Int64.max : SaltSchedule.dueBeforeMillis(nowMillis: now), skipIfRunSinceMillis: nil
            ) { candidates, count in
                var generator = SystemRandomNumberGenerator()
                return schedule.plan(candidates: candidates, totalBuckets: count, nowMillis: now, forced: forced, using: &generator)
            }
            let rotated = outcome?.rotated ?? 0
            let buckets = outcome?.buckets ?? 0
            let requested = SaltSchedule.bucketsPerRun(total: buckets, fraction: fraction)
            try emit(json: json, ["rotated": rotated, "requested": requested, "buckets": buckets, "rescheduled": outcome?.rescheduled ?? 0],
                     human: includeNotDue ? "Rotated \(rotated) of \(buckets) buckets (\(requested) requested)."
                        : "Rotated \(rotated) of \(buckets) buckets (\(requested) requested; only due buckets old enough are eligible).")
        }
    }
}

struct OptOutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optout", abstract: "Record and inspect opt-outs.", subcommands: [Add.self, List.self, Count.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Opt an identity out (durable; running nodes apply it within their sync interval).")
        @OptionGroup var store: StoreOptions
        @Option var email: String?
        @Option var phone: String?
        @Option var emailHash: String?
        @Option var phoneHash: String?
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let fields = IdentityFields(
                email: email.map(JSONField.string) ?? .absent, emailHash: emailHash.map(JSONField.string) ?? .absent,
                phone: phone.map(JSONField.string) ?? .absent, phoneHash: phoneHash.map(JSONField.string) ?? .absent
            )
            let store = try await self.store.openForAdministration()
            let config = OperatorConfig(scope: try await self.store.scope(for: store))
            let hash: IdentityHash
            switch fields.identityHash(phoneSupport: config.phoneSupport) {
            case .success(let valid): hash = valid
            case .failure(let failure): throw ValidationError(failure.message)
            }
            // One bucket, not the snapshot: a few rows whatever the size of the store.
            guard let resolved = try await store.resolve(hash) else { throw CommandFailure("The store has no salt bucket for this identity") }
            let record = OptOutRecord(firstLevelHash: resolved.firstLevelHash, advertisingID: resolved.currentRawUID(options: config.rawUIDOptions),
                                      optedOutSinceSeconds: Clock.nowMillis() / 1000)
            try await store.recordOptOut(record)
            try emit(json: json, ["first_level_hash": Base64.encode(record.firstLevelHash), "advertising_id": record.advertisingID.map { Base64.encode($0) } ?? "",
                                  "opted_out_since": record.optedOutSinceSeconds],
                     human: "Opted out (first-level hash \(Base64.encode(record.firstLevelHash))).")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the most recent opt-outs.")
        @OptionGroup var store: StoreOptions
        @Option(help: "How many.") var limit = 20
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let records = try await store.openForAdministration().recentOptOuts(limit: limit)
            try emit(json: json, records.map { ["first_level_hash": Base64.encode($0.firstLevelHash), "advertising_id": $0.advertisingID.map { Base64.encode($0) } ?? "", "opted_out_since": $0.optedOutSinceSeconds] },
                     human: TextTable.render(["OPTED OUT SINCE", "FIRST-LEVEL HASH", "ADVERTISING ID"], records.map {
                         [HumanTime.iso8601(seconds: $0.optedOutSinceSeconds), Base64.encode($0.firstLevelHash), $0.advertisingID.map { Base64.encode($0) } ?? "-"]
                     }))
        }
    }

    struct Count: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Count opt-outs.")
        @OptionGroup var store: StoreOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let count = try await store.openForAdministration().optOutCount()
            try emit(json: json, ["count": count], human: "\(count)")
        }
    }
}
