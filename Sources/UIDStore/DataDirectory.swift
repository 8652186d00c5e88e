import Foundation
import UIDOperatorCore
import UIDProtocol

/// An operator's data directory: the SQLite store, plus `dev-credentials.json` after a first start.
public struct DataDirectory: Sendable {
    public static let credentialsFileName = "dev-credentials.json"

    public let url: URL
    public let store: SQLiteStore

    /// Opens the directory, creating and seeding the store on first use. Returns the new default
    /// client's credentials when it had to seed.
    public static func open(
        _ path: String, scope: IdentityScope, environment: IdentityEnvironment, nowMillis: Int64,
        bucketCount: Int = InitialDataset.bucketCount
    ) throws -> (DataDirectory, ClientCredentials?) {
        let url = URL(fileURLWithPath: path, isDirectory: true)
        let store = try SQLiteStore(directory: url)
        let directory = DataDirectory(url: url, store: store)
        guard try store.isEmpty() else { return (directory, nil) }
        let (contents, credentials) = InitialDataset.generate(scope: scope, environment: environment, nowMillis: nowMillis, bucketCount: bucketCount)
        try store.initialize(with: contents)
        try directory.writeCredentials(credentials)
        return (directory, credentials)
    }

    /// Owner-only, since it holds a secret.
    func writeCredentials(_ credentials: ClientCredentials) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let path = url.appendingPathComponent(Self.credentialsFileName).path
        let data = try encoder.encode(credentials)
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }
}
