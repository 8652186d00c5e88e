import ArgumentParser
import Foundation
import UIDOperatorCore
import UIDProtocol
import UIDStore

struct IdentityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity", abstract: "Work with identities.", subcommands: [Derive.self]
    )

    /// Shows each step of the hash chain for one identity under the store's current salts.
    struct Derive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the identity hash, first-level hash, bucket and raw UID of an email or phone."
        )

        @OptionGroup var store: StoreOptions

        @Option var email: String?
        @Option var phone: String?
        @Option var emailHash: String?
        @Option var phoneHash: String?

        @Flag(help: "Derive a v3 raw UID (33 bytes).")
        var identityV3 = false

        @Option(help: "Environment for v4 raw UIDs.")
        var identityEnvironment: IdentityEnvironment = .test

        func run() async throws {
            let given: [(IdentityInputKind, String)] = [(.email, email), (.phone, phone), (.emailHash, emailHash), (.phoneHash, phoneHash)]
                .compactMap { kind, value in value.map { (kind, $0) } }
            guard given.count == 1, let (kind, value) = given.first else {
                throw ValidationError("Give exactly one of --email, --phone, --email-hash, --phone-hash")
            }
            guard let hash = IdentityHash(kind: kind, value: value) else { throw ValidationError("Invalid \(kind.fieldName)") }
            let store = try await self.store.openExisting()
            let scope = try await self.store.scope(for: store)
            let config = OperatorConfig(scope: scope, identityV3: identityV3, environment: identityEnvironment)
            guard let resolved = try await store.resolve(hash) else { throw CommandFailure("The store has no salt bucket for this identity") }
            let output: [String: String] = [
                "identity_hash": Base64.encode(hash.bytes),
                "first_level_hash": Base64.encode(resolved.firstLevelHash),
                "raw_uid": resolved.currentRawUID(options: config.rawUIDOptions).map { Base64.encode($0) } ?? "",
            ]
            var json = String(decoding: try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
            json.removeLast()
            print(json + ",\"bucket_index\":\(resolved.bucketIndex)}")
        }
    }
}
