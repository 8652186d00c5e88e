import ArgumentParser
import Foundation
import UIDOperatorCore
import UIDProtocol
import UIDStore

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Explain tokens.", subcommands: [Inspect.self]
    )

    /// For support staff: why does this partner's token work, or not?
    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read an advertising token, a refresh token or a 388-character sealed refresh token with the store's keys.",
            discussion: """
            Prints the token's version, scope, identity type, site, key ids and their keysets (and whether each key is still \
            in the store), created / expires / refresh-from times, privacy bits, and whether the identity has opted out. \
            Never prints the raw UID or any hash of the identity. Exits 1 when the token cannot be read in full.
            """
        )

        @OptionGroup var store: StoreOptions

        @Argument(help: "The token; `-` or nothing reads it from standard input (keeps it out of the shell history).")
        var token: String?

        @Flag(help: "Print JSON (times in epoch milliseconds, key times in epoch seconds).")
        var json = false

        @Option(help: "Seconds after creation a refresh token's identity should be refreshed, when serve overrides the store's setting with this flag.")
        var refreshIdentityTokenAfterSeconds: Int64?

        func run() async throws {
            let text = try readToken()
            let opened = try await store.openExisting()
            let scope = try await store.scope(for: opened)
            let state = try await opened.loadState(includingSalts: true, includingOptOuts: true)
            let config: OperatorConfig
            do {
                var flags = RuntimeSettings()
                flags.refreshIdentityTokenAfterSeconds = refreshIdentityTokenAfterSeconds
                config = try state.runtimeSettings.merging(flags).applied(to: OperatorConfig(scope: scope))
            } catch {
                throw CommandFailure("The store's runtime settings are invalid: \(error)")
            }
            let snapshot: OperatorSnapshot
            do {
                snapshot = try OperatorSnapshot(config: config, contents: state.contents)
            } catch {
                throw CommandFailure("The store's data cannot be loaded: \(error)")
            }
            let inspection = snapshot.inspectToken(text, nowMillis: OperatorClock.system.nowMillis())
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
                print(String(decoding: try encoder.encode(inspection), as: UTF8.self))
            } else {
                print(Self.describe(inspection))
            }
            if inspection.problem != nil { throw ExitCode(1) }
        }

        private func readToken() throws -> String {
            if let token, token != "-" { return token }
            let input = FileHandle.standardInput.readDataToEndOfFile()
            let text = String(decoding: input, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { throw ValidationError("Give the token as an argument or on standard input") }
            return text
        }

        static func describe(_ inspection: TokenInspection) -> String {
            var rows = [[String]]()
            func add(_ name: String, _ value: String?) { if let value { rows.append([name, value]) } }
            func time(_ millis: Int64?) -> String? { millis.map { "\(HumanTime.iso8601(seconds: $0 / 1000)) (\($0))" } }
            add("kind", inspection.kind?.replacingOccurrences(of: "_", with: " "))
            add("version", inspection.version)
            add("scope", inspection.scope)
            add("identity type", inspection.identityType)
            add("site", inspection.siteID.map { id in inspection.siteName.map { "\(id) (\($0))" } ?? "\(id) (not in the store)" })
            add("publisher id", inspection.publisherID.map(String.init))
            add("client key id", inspection.clientKeyID.map(String.init))
            add("operator", inspection.operatorSiteID.map { "site \($0), key \(inspection.operatorKeyID ?? 0)" })
            add("privacy bits", inspection.privacyBits.map { "\($0)\(inspection.clientSideGenerated == true ? " (client-side generated)" : "")" })
            add("created", time(inspection.created))
            add("established", time(inspection.established))
            add("refreshed", time(inspection.refreshed))
            add("refresh from", time(inspection.refreshFrom).map { $0 + " (by the current refresh-after setting)" })
            add("expires", time(inspection.expires).map { $0 + (inspection.expired == true ? " — EXPIRED" : "") })
            for key in inspection.keys {
                let place = key.inStore
                    ? "in the store, keyset \(key.keysetID.map(String.init) ?? "?") (site \(key.keysetSiteID.map(String.init) ?? "?")), expires \(key.expires.map { HumanTime.iso8601(seconds: $0) } ?? "?")"
                    : "NOT in the store"
                add("\(key.role) key", "\(key.id): \(place)")
            }
            add("opted out", inspection.optedOut.map { $0 ? "yes, since \(time(inspection.optedOutSince) ?? "?")" : "no" })
            add("problem", inspection.problem)
            return TextTable.render(["field", "value"], rows)
        }
    }
}
