import ArgumentParser
import Foundation
import Logging
import UIDOperatorCore
import UIDProtocol
import UIDStore

extension IdentityScope: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { allCases.map(\.name) }
}

extension IdentityEnvironment: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { allCases.map(\.name) }
}

/// Options every command that touches operator data shares.
struct StoreOptions: ParsableArguments {
    @Option(help: "Directory of the embedded store (created and seeded on first use); with --store, where dev credentials are written.")
    var dataDir: String?

    @Option(name: .customLong("store"), help: ArgumentHelp(
        "A PostgreSQL store shared by several nodes, e.g. postgres://user:password@host:5432/db (default: $UID_OPERATOR_STORE, which keeps the password out of process listings).",
        valueName: "url"))
    var storeURL: String?

    /// The network store: `--store`, else the environment.
    var store: String? {
        storeURL ?? ProcessInfo.processInfo.environment["UID_OPERATOR_STORE"].flatMap { $0.isEmpty ? nil : $0 }
    }

    @Option(help: "Identity scope used when seeding a new store and for derived identities.")
    var scope: IdentityScope?

    @Option(help: ArgumentHelp("Operator configuration file (JSON).", valueName: "file"))
    var config: String?

    func validate() throws {
        guard dataDir != nil || store != nil else { throw ValidationError("Give --data-dir (embedded store) or --store postgres://…") }
        if let store, !(store.hasPrefix("postgres://") || store.hasPrefix("postgresql://")) {
            throw ValidationError("--store takes a postgres:// URL; the embedded store is chosen with --data-dir")
        }
    }

    func loadConfig() throws -> OperatorConfigFile {
        guard let config else { return OperatorConfigFile() }
        return try OperatorConfigFile.load(path: config)
    }

    func configuredScope() throws -> IdentityScope {
        try scope ?? loadConfig().scope() ?? .uid2
    }

    /// Opens the store, seeding it on first use (unless `seed` is false) and announcing the default
    /// client's credentials.
    func open(scope: IdentityScope, environment: IdentityEnvironment, seed: Bool = true, logger: Logger = Logger(label: "uid-operator")) async throws -> any OperatorStore {
        let opened: any OperatorStore
        if let url = store {
            opened = try await NetworkStores.open(url: url, logger: logger)
        } else {
            opened = try SQLiteStore(directory: URL(fileURLWithPath: dataDir!, isDirectory: true))
        }
        guard seed else { return opened }
        if let credentials = try await StoreBootstrap.seedIfEmpty(opened, scope: scope, environment: environment, nowMillis: Clock.nowMillis()) {
            note("Created a new store with site \(credentials.siteID) and a client holding every role:")
            note("  API key: \(credentials.apiKey)")
            note("  secret:  \(credentials.secret)")
            if let dataDir {
                let directory = URL(fileURLWithPath: dataDir, isDirectory: true)
                try StoreBootstrap.writeCredentials(credentials, to: directory)
                note("  (also written to \(directory.appendingPathComponent(StoreBootstrap.credentialsFileName).path), mode 0600)")
            }
        }
        return opened
    }

    /// Opens an existing or new store with the configured scope (administration commands).
    func openForAdministration() async throws -> any OperatorStore {
        try await open(scope: try configuredScope(), environment: .test)
    }
}

enum Clock {
    static func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Unbuffered output, so lines reach a pipe (a supervisor, a test harness) as they happen.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Announcements that must not mix with a command's machine-readable stdout.
func note(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Prints `object` as one JSON line for scripts, or `human` for people.
func emit(json: Bool, _ object: Any, human: @autoclosure () -> String) throws {
    if json {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        say(String(decoding: data, as: UTF8.self))
    } else {
        say(human())
    }
}
