import Foundation
import UIDOperatorCore
import UIDProtocol
import UIDStore

/// A freshly seeded embedded store (full 1,048,576-bucket salt table), its default client, and the
/// snapshot a server started on it would build, so prepared requests use the server's real keys.
struct BenchmarkFixture {
    let directory: URL
    let credentials: ClientCredentials
    let client: ClientKey
    let snapshot: OperatorSnapshot

    static func create(in directory: URL, nowMillis: Int64) async throws -> BenchmarkFixture {
        let store = try SQLiteStore(directory: directory)
        guard let credentials = try await StoreBootstrap.seedIfEmpty(store, scope: .uid2, environment: .test, nowMillis: nowMillis) else {
            throw BenchmarkFailure("\(directory.path) already holds a store; the benchmark needs a new one")
        }
        let state = try await store.loadState(includingSalts: true, includingOptOuts: true)
        let snapshot = try OperatorSnapshot(config: OperatorConfig(), contents: state.contents)
        guard let client = snapshot.clients.client(forAPIKey: credentials.apiKey) else {
            throw BenchmarkFailure("the seeded client is missing from its own store")
        }
        return BenchmarkFixture(directory: directory, credentials: credentials, client: client, snapshot: snapshot)
    }

    /// A base64 request envelope for `payload`, stamped now, as the SDKs post it.
    func envelope(_ payload: String, nowMillis: Int64) -> String {
        let nonce = (0..<8).map { _ in UInt8.random(in: 0...255) }
        return Base64.encode(try! RequestEnvelope.seal(payload: Array(payload.utf8), timestampMillis: nowMillis, nonce: nonce, secret: client.secretKey))
    }

    static func email(_ index: Int) -> String { "bench.user.\(index)@example.com" }
}

func currentMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
