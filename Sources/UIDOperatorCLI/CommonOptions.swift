import ArgumentParser
import Foundation
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
    @Option(help: "Directory of the embedded store (created and seeded on first use).")
    var dataDir: String

    @Option(help: "Identity scope used when seeding a new store and for derived identities.")
    var scope: IdentityScope?

    @Option(help: ArgumentHelp("Operator configuration file (JSON).", valueName: "file"))
    var config: String?

    func loadConfig() throws -> OperatorConfigFile {
        guard let config else { return OperatorConfigFile() }
        return try OperatorConfigFile.load(path: config)
    }

    /// Opens the store, printing the default client's credentials if this call created it.
    func open(scope: IdentityScope, environment: IdentityEnvironment) throws -> DataDirectory {
        let (directory, credentials) = try DataDirectory.open(
            dataDir, scope: scope, environment: environment, nowMillis: Clock.nowMillis()
        )
        if let credentials {
            note("Created a new store in \(dataDir) with site \(credentials.siteID) and a client holding every role:")
            note("  API key: \(credentials.apiKey)")
            note("  secret:  \(credentials.secret)")
            note("  (also written to \(directory.url.appendingPathComponent(DataDirectory.credentialsFileName).path), mode 0600)")
        }
        return directory
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

extension StoreOptions {
    /// Opens an existing or new store with the configured scope (administration commands).
    func openForAdministration() throws -> DataDirectory {
        try open(scope: try scope ?? loadConfig().scope() ?? .uid2, environment: .test)
    }
}
