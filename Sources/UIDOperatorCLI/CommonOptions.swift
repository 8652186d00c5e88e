import ArgumentParser
import Foundation
import Logging
import UIDOperatorCore
import UIDProtocol
import UIDStore

#if canImport(Glibc)
import Glibc
#endif

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
    @Option(help: "Directory of the embedded store (`init` or `serve` creates it); with --store, where `init`/`serve` write dev credentials.")
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

    /// The scope from `--scope` or the configuration file, else UID2 (for a store not yet created).
    func configuredScope() throws -> IdentityScope {
        try scope ?? loadConfig().scope() ?? .uid2
    }

    /// Opens the store for `serve` and `init`, the only commands that create one: an empty store
    /// is seeded and the default client's credentials are written (and shown on a terminal).
    /// With `seed` false, an existing store is required, as for every other command.
    /// `optOutImageMinimum`: see `SQLiteStore.init(path:openingWarnings:optOutImageMinimum:)`.
    func open(
        scope: IdentityScope, environment: IdentityEnvironment, seed: Bool = true, logger: Logger = Logger(label: "uid-operator"),
        optOutImageMinimum: Int? = SQLiteStore.defaultOptOutImageMinimum
    ) async throws -> any OperatorStore {
        guard seed else { return try await openExisting(logger: logger) }
        let opened = try await connect(logger: logger, optOutImageMinimum: optOutImageMinimum)
        if let credentials = try await StoreBootstrap.seedIfEmpty(
            opened, scope: scope, environment: environment, nowMillis: OperatorClock.system.nowMillis(), keyExpiry: try loadConfig().keyExpiry()
        ) {
            announce(credentials)
        } else {
            try await checkScope(of: opened)
        }
        return opened
    }

    /// Opens a store that must already exist: a directory without one, or an empty database, is
    /// refused by name, so a mistyped `--data-dir` never creates a new store.
    func openExisting(logger: Logger = Logger(label: "uid-operator")) async throws -> any OperatorStore {
        if store == nil, let dataDir {
            let file = URL(fileURLWithPath: dataDir, isDirectory: true).appendingPathComponent(SQLiteStore.fileName)
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw CommandFailure("No operator store in \(dataDir) (no \(SQLiteStore.fileName) there). Create one with `uid-operator init --data-dir \(dataDir)` or start `uid-operator serve --data-dir \(dataDir)`.")
            }
        }
        let opened = try await connect(logger: logger)
        if try await opened.isEmpty() {
            throw CommandFailure("The store at \(storeDescription) holds no operator data yet. Create it with `uid-operator init` or start `uid-operator serve` on it first.")
        }
        try await checkScope(of: opened)
        return opened
    }

    /// Opens an existing store (administration commands).
    func openForAdministration() async throws -> any OperatorStore {
        try await openExisting()
    }

    /// The store as named on the command line (without a password).
    var storeDescription: String {
        if let store { return NetworkStores.redacted(store) }
        return dataDir ?? "?"
    }

    /// Opens (creating when missing) without seeding: for `import core`, which fills the store itself.
    func connect(logger: Logger = Logger(label: "uid-operator"), optOutImageMinimum: Int? = SQLiteStore.defaultOptOutImageMinimum) async throws -> any OperatorStore {
        if let url = store {
            return try await NetworkStores.open(url: url, logger: logger)
        }
        guard let dataDir else { throw CommandFailure("Give --data-dir (embedded store) or --store postgres://…") }
        let opened = try SQLiteStore(directory: URL(fileURLWithPath: dataDir, isDirectory: true), optOutImageMinimum: optOutImageMinimum)
        for warning in opened.openingWarnings { note("warning: \(warning)") }
        return opened
    }

    /// `--scope` (or the configuration file's `identity_scope`) must match the data in the store.
    private func checkScope(of opened: any OperatorStore) async throws {
        guard let requested = try scope ?? loadConfig().scope() else { return }
        if let held = try await Self.scope(of: opened), held != requested {
            throw CommandFailure("--scope \(requested.name) does not match the store at \(storeDescription), which holds \(held.displayName) data.")
        }
    }

    /// The scope a store's data was made for: its stored setting, else its clients' key prefixes.
    static func scope(of opened: any OperatorStore) async throws -> IdentityScope? {
        if let name = try await opened.runtimeSettings().identityScope, let scope = IdentityScope(name: name) { return scope }
        let clients = try await opened.loadConfiguration().clients
        for scope in IdentityScope.allCases where clients.contains(where: { $0.keyID.hasPrefix("\(scope.displayName)-") }) {
            return scope
        }
        return nil
    }

    /// The scope for new keys: `--scope`, the configuration file, else the store's own.
    func scope(for opened: any OperatorStore) async throws -> IdentityScope {
        if let configured = try scope ?? loadConfig().scope() { return configured }
        return try await Self.scope(of: opened) ?? .uid2
    }

    /// The first start's credentials: always to `dev-credentials.json` (0600) when there is a data
    /// directory; on the terminal only when stdout is one, so they never land in a log.
    private func announce(_ credentials: ClientCredentials) {
        let onTerminal = isatty(STDOUT_FILENO) == 1
        note("Created a new store with site \(credentials.siteID) and a client holding every role (\(credentials.keyID)).")
        var written: String?
        if let dataDir {
            let directory = URL(fileURLWithPath: dataDir, isDirectory: true)
            do {
                try StoreBootstrap.writeCredentials(credentials, to: directory)
                written = directory.appendingPathComponent(StoreBootstrap.credentialsFileName).path
            } catch {
                note("warning: cannot write the credentials file in \(dataDir): \(error)")
            }
        }
        if onTerminal {
            say("  API key: \(credentials.apiKey)")
            say("  secret:  \(credentials.secret)")
        }
        if let written {
            note("  Credentials written to \(written) (mode 0600).")
        } else if !onTerminal {
            note("  Credentials not shown (stdout is not a terminal) and not written (no --data-dir); create a client with `uid-operator client create`.")
        }
    }
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
