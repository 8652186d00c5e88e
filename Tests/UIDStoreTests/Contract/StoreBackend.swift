import Foundation
import Logging
import Testing
import UIDOperatorCore
@testable import UIDStore

/// The stores the contract runs against. PostgreSQL needs a server: `UID_TEST_POSTGRES_URL`
/// (scripts/test starts one and sets it; `scripts/postgres-for-tests` prints one). Without it the
/// contract runs on SQLite only and `StoreContractTests.postgresHalfRuns` reports the skip.
enum StoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    static let postgresSkipReason = "UID_TEST_POSTGRES_URL is unset: the PostgreSQL half of the store contract is skipped (scripts/test sets it)"

    /// Every backend this run can reach.
    static var available: [StoreBackend] {
        PostgresTestDatabase.adminURL == nil ? [.sqlite] : allCases
    }

    var testDescription: String { rawValue }

    /// Runs `body` with a fresh, empty store of this kind and the place it lives, removed afterwards.
    func withStore<T: Sendable>(_ body: (any OperatorStore, StoreLocation) async throws -> T) async throws -> T {
        try await withLocation { location in
            try await location.withStore { store in try await body(store, location) }
        }
    }

    /// A fresh place for a store (a directory, a database), removed after `body`.
    func withLocation<T: Sendable>(_ body: (StoreLocation) async throws -> T) async throws -> T {
        switch self {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("uidcontract-\(UUID().uuidString)", isDirectory: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            return try await body(StoreLocation(backend: self, address: directory.path))
        case .postgres:
            return try await PostgresTestDatabase.withDatabase { url in try await body(StoreLocation(backend: self, address: url)) }
        }
    }
}

/// Where one store lives: any number of store instances may be opened on it, as separate
/// processes or nodes would.
struct StoreLocation: Sendable {
    var backend: StoreBackend
    /// The SQLite store's directory or the PostgreSQL database's URL.
    var address: String

    /// Opens a new instance on this location, closed after `body`.
    func withStore<T: Sendable>(_ body: (any OperatorStore) async throws -> T) async throws -> T {
        switch backend {
        case .sqlite:
            return try await body(try SQLiteStore(directory: URL(fileURLWithPath: address, isDirectory: true)))
        case .postgres:
            let store = try await PostgresStore.connect(url: address, logger: Logger(label: "contract"))
            let result: Result<T, any Error>
            do { result = .success(try await body(store)) } catch { result = .failure(error) }
            await store.shutdown()
            return try result.get()
        }
    }
}
