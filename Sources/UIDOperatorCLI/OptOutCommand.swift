import ArgumentParser
import UIDOperatorCore
import UIDProtocol
import UIDStore

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
                                      optedOutSinceSeconds: OperatorClock.system.nowMillis() / 1000)
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
