import Foundation
import UIDOperatorCore
import UIDProtocol

/// Reads a store directory in the reference's "core" format (docs/PROTOCOL.md#core-store-layout): one folder per
/// store, each with a `metadata.json` that names its data file.
///
/// Everything is validated before anything is returned, so a caller can replace its store with the
/// result or leave it untouched: malformed input is a thrown `Failure` naming the file and the
/// entry or line, never a crash and never a half-imported store.
public struct CoreImport {
    public struct Imported: Sendable {
        /// Sites, clients, keysets, keys, salts and client-side key pairs. Opt-outs are empty: they
        /// come from the opt-out service's files (`OptOutFileReader`), not from core.
        public var contents: StoreContents
        /// From `runtime_config/metadata.json`, when the directory has one.
        public var runtimeConfig: RuntimeConfigValues?
        /// Things that were imported with a caveat or left out (unknown roles, stores this operator
        /// has no use for, size mismatches).
        public var warnings: [String]
    }

    /// The reference's runtime config (docs/PROTOCOL.md#runtime-config). Seconds throughout.
    public struct RuntimeConfigValues: Sendable, Equatable {
        public var identityTokenExpiresAfterSeconds: Int64
        public var refreshTokenExpiresAfterSeconds: Int64
        public var refreshIdentityTokenAfterSeconds: Int64
        public var sharingTokenExpirySeconds: Int64
        public var maxBidstreamLifetimeSeconds: Int64?
        public var maxSharingLifetimeSeconds: Int64?
        /// `test`, `integ` or `prod` (validated on import).
        public var identityEnvironment: String

        public init(
            identityTokenExpiresAfterSeconds: Int64, refreshTokenExpiresAfterSeconds: Int64,
            refreshIdentityTokenAfterSeconds: Int64, sharingTokenExpirySeconds: Int64,
            maxBidstreamLifetimeSeconds: Int64? = nil, maxSharingLifetimeSeconds: Int64? = nil,
            identityEnvironment: String
        ) {
            self.identityTokenExpiresAfterSeconds = identityTokenExpiresAfterSeconds
            self.refreshTokenExpiresAfterSeconds = refreshTokenExpiresAfterSeconds
            self.refreshIdentityTokenAfterSeconds = refreshIdentityTokenAfterSeconds
            self.sharingTokenExpirySeconds = sharingTokenExpirySeconds
            self.maxBidstreamLifetimeSeconds = maxBidstreamLifetimeSeconds
            self.maxSharingLifetimeSeconds = maxSharingLifetimeSeconds
            self.identityEnvironment = identityEnvironment
        }

        public var lifetimes: TokenLifetimes {
            TokenLifetimes(
                identityTokenExpiresAfterSeconds: identityTokenExpiresAfterSeconds,
                refreshTokenExpiresAfterSeconds: refreshTokenExpiresAfterSeconds,
                refreshIdentityTokenAfterSeconds: refreshIdentityTokenAfterSeconds
            )
        }

        public var environment: IdentityEnvironment? { IdentityEnvironment(name: identityEnvironment) }
    }

    /// What went wrong, and where: `file` is relative to the imported directory when it is inside it.
    public struct Failure: Error, CustomStringConvertible, Sendable, Equatable {
        public var file: String
        public var message: String

        public init(file: String, message: String) {
            self.file = file
            self.message = message
        }

        public var description: String { "\(file): \(message)" }
    }

    /// Progress is reported as (stage, done, total) this often while reading salt buckets.
    public static let progressInterval = 65_536

    /// Reads `directory` (the folder that holds `clients/`, `keysets/`, `keyset_keys/`, `salts/`, …).
    /// `nowMillis` picks the salt snapshot in force (docs/PROTOCOL.md#salt-snapshots).
    public static func read(directory: URL, nowMillis: Int64, progress: ((String, Int, Int) -> Void)? = nil) throws -> Imported {
        var reader = Reader(directory: directory.standardizedFileURL, nowMillis: nowMillis, progress: progress)
        return try reader.read()
    }
}

