import Foundation
import UIDOperatorCore
import UIDProtocol

/// First start: an empty store gets a complete, freshly generated data set.
public enum StoreBootstrap {
    public static let credentialsFileName = "dev-credentials.json"

    /// Seeds `store` if it is empty; returns the new default client's credentials when it did.
    /// Any number of nodes may call this at once on one empty store: the store seeds in one
    /// exclusive transaction that checks for data first, so exactly one of them seeds; the others
    /// wait for its commit, find the data and return nil.
    public static func seedIfEmpty(
        _ store: any OperatorStore, scope: IdentityScope, environment: IdentityEnvironment, nowMillis: Int64,
        bucketCount: Int = InitialDataset.bucketCount, keyExpiry: KeyExpiry = .default
    ) async throws -> ClientCredentials? {
        guard try await store.isEmpty() else { return nil }
        let (contents, credentials) = InitialDataset.generate(
            scope: scope, environment: environment, nowMillis: nowMillis, bucketCount: bucketCount, keyExpiry: keyExpiry
        )
        do {
            try await store.initialize(with: contents)
        } catch StoreError.alreadyInitialized {
            return nil
        }
        return credentials
    }

    /// Owner-only, since it holds a secret.
    public static func writeCredentials(_ credentials: ClientCredentials, to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let path = directory.appendingPathComponent(credentialsFileName).path
        guard FileManager.default.createFile(atPath: path, contents: try encoder.encode(credentials), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }
}
