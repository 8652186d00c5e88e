import ArgumentParser
import Foundation
import UIDOperatorCore
import UIDProtocol
import UIDStore

#if canImport(Glibc)
import Glibc
#endif

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Load data produced by the reference operator's tooling.", subcommands: [Core.self, OptOut.self]
    )

    struct Core: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace sites, clients, keysets, keys, salts and key pairs with a core data set (opt-outs are kept).",
            discussion: "DIR is the folder holding clients/, keysets/, keyset_keys/, sites/, salts/, … each with its metadata.json."
        )
        @OptionGroup var store: StoreOptions
        @Argument(help: "The core data set's folder.") var directory: String

        func run() async throws {
            let progress = Progress()
            let imported: CoreImport.Imported
            do {
                imported = try CoreImport.read(directory: URL(fileURLWithPath: directory, isDirectory: true), nowMillis: OperatorClock.system.nowMillis()) { stage, done, total in
                    progress.show("\(stage): \(done)/\(total)")
                }
            } catch {
                progress.finish()
                throw CommandFailure("Cannot import \(directory): \(error)")
            }
            progress.finish()
            // The one command besides `init` and `serve` that may create a store: it fills it completely.
            let target = try await self.store.connect()
            try await target.replaceContents(with: imported.contents)
            if let dataDir = self.store.dataDir {
                // The seeded client is gone; its credentials file would only mislead.
                let stale = URL(fileURLWithPath: dataDir).appendingPathComponent(StoreBootstrap.credentialsFileName)
                if FileManager.default.fileExists(atPath: stale.path) {
                    try FileManager.default.removeItem(at: stale)
                    note("Removed \(stale.path): its client is not part of the imported data.")
                }
            }
            let contents = imported.contents
            say("Imported \(contents.sites.count) sites, \(contents.clients.count) clients, \(contents.keysets.count) keysets, \(contents.keys.count) keys, \(contents.salts.count) salt buckets, \(contents.keypairs.count) client-side key pairs.")
            for warning in imported.warnings { note("warning: \(warning)") }
            if let runtime = imported.runtimeConfig {
                var settings = try await target.runtimeSettings()
                settings.identityTokenExpiresAfterSeconds = runtime.identityTokenExpiresAfterSeconds
                settings.refreshTokenExpiresAfterSeconds = runtime.refreshTokenExpiresAfterSeconds
                settings.refreshIdentityTokenAfterSeconds = runtime.refreshIdentityTokenAfterSeconds
                settings.sharingTokenExpirySeconds = runtime.sharingTokenExpirySeconds
                settings.maxBidstreamLifetimeSeconds = runtime.maxBidstreamLifetimeSeconds
                settings.maxSharingLifetimeSeconds = runtime.maxSharingLifetimeSeconds
                settings.identityEnvironment = runtime.identityEnvironment
                try await target.setRuntimeSettings(settings)
                say("Applied the data set's runtime settings: identity tokens \(runtime.identityTokenExpiresAfterSeconds) s, refresh tokens \(runtime.refreshTokenExpiresAfterSeconds) s, refresh after \(runtime.refreshIdentityTokenAfterSeconds) s, environment \(runtime.identityEnvironment) (see `uid-operator config show`).")
            }
        }
    }

    struct OptOut: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "optout", abstract: "Add opt-outs from the reference's delta or partition files (72-byte entries)."
        )
        @OptionGroup var store: StoreOptions
        @Argument(help: "Opt-out files.") var files: [String]

        func validate() throws {
            guard !files.isEmpty else { throw ValidationError("Give at least one opt-out file") }
        }

        func run() async throws {
            var records = [OptOutRecord]()
            for file in files {
                let data = try Data(contentsOf: URL(fileURLWithPath: file))
                records += try OptOutFileReader.read(data, file: file)
            }
            let target = try await self.store.openForAdministration()
            let added = try await target.importOptOuts(records)
            say("Read \(records.count) opt-outs from \(files.count) file(s); \(added) were new.")
        }
    }
}

/// One updating line on a terminal; silent when stderr is redirected.
final class Progress {
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var shown = false

    func show(_ text: String) {
        guard isTerminal else { return }
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + text).utf8))
        shown = true
    }

    func finish() {
        if shown { FileHandle.standardError.write(Data("\n".utf8)) }
        shown = false
    }
}
