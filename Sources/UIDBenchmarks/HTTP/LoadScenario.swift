import Foundation
import UIDOperatorCore
import UIDProtocol

/// One endpoint under load: where to post, with which credentials, and the request bodies to cycle
/// through (prepared just before the run, because envelopes carry a timestamp the server checks).
struct LoadScenario {
    let name: String
    let path: String
    /// Identities (or other units) one request carries, for per-item throughput.
    let itemsPerRequest: Int
    let itemName: String
    let authenticated: Bool
    let isBaseline: Bool
    /// At most this many connections: batch endpoints admit only so many requests at once and shed
    /// the rest with 503, as a well-behaved client would not provoke.
    var maxConnections: Int? = nil
    let prepareBodies: (BenchmarkFixture, Int64) -> [String]

    /// The suite's endpoints with an echo run before and after each: on a shared machine the
    /// baseline drifts, so each endpoint is compared with the echo runs on either side of it.
    /// `rounds` of the endpoints with targets (token generate and refresh, both identity maps):
    /// after the first pass over every endpoint, each of them runs `rounds - 1` more times, echo
    /// between. Their targets read the medians over the rounds: one 10 s run on a shared machine
    /// swings by more than the margin (map v2's share of v3 read 0.91× and 0.75× in two full runs
    /// of the same code).
    static func interleaved(mapBatchSize: Int, only: [String], rounds: Int = 1) -> [LoadScenario] {
        let all = standardSet(mapBatchSize: mapBatchSize)
        let echo = all[0]
        let endpoints = all.filter { !$0.isBaseline && (only.isEmpty || only.contains(where: $0.path.contains)) }
        let repeated = endpoints.filter { ratioTargeted.contains($0.name) || $0.isIdentityMap }
        return [echo] + endpoints.flatMap { [$0, echo] } + (1..<max(rounds, 1)).flatMap { _ in repeated.flatMap { [$0, echo] } }
    }

    /// The endpoints whose throughput and p99 are targeted as ratios to echo's.
    static let ratioTargeted = ["token/generate", "token/refresh"]

    /// Identity map v3 or v2, whose targets are identities per second and v2's share of v3.
    var isIdentityMap: Bool { path.hasSuffix("/identity/map") }

    /// What the server's batch pool admits at once (`BatchWorkPool.shared`: four per core), the
    /// server running on this machine.
    static var batchRequestsAdmitted: Int { max(4, ProcessInfo.processInfo.activeProcessorCount * 4) }

    /// The same emails for both versions, so their throughput compares like for like.
    private static func identityMap(version: String, mapBatchSize: Int) -> LoadScenario {
        LoadScenario(
            name: "identity/map \(version), \(mapBatchSize) emails", path: "/\(version)/identity/map", itemsPerRequest: mapBatchSize,
            // Half of what the pool admits: at the bound, a slow request plus wrk's reconnect is shed,
            // and on a loaded machine the fast 503s that follow keep the count there.
            itemName: "identities", authenticated: true, isBaseline: false, maxConnections: max(1, batchRequestsAdmitted / 2)
        ) { fixture, now in
            (0..<8).map { batch in
                let emails = (0..<mapBatchSize).map { #""\#(BenchmarkFixture.email(batch * mapBatchSize + $0))""# }
                return fixture.envelope(#"{"email":[\#(emails.joined(separator: ","))]}"#, nowMillis: now)
            }
        }
    }

    private static func standardSet(mapBatchSize: Int) -> [LoadScenario] {
        let echo = LoadScenario(
            name: "echo (baseline)", path: "/bench/echo", itemsPerRequest: 1, itemName: "requests", authenticated: false, isBaseline: true
        ) { fixture, now in
            // The same bytes a generate request carries, so both move equal payloads.
            (0..<1_024).map { fixture.envelope(#"{"email":"\#(BenchmarkFixture.email($0))"}"#, nowMillis: now) }
        }
        return [
            echo,
            LoadScenario(name: "token/generate", path: "/v2/token/generate", itemsPerRequest: 1, itemName: "tokens", authenticated: true, isBaseline: false) { fixture, now in
                (0..<1_024).map { fixture.envelope(#"{"email":"\#(BenchmarkFixture.email($0))"}"#, nowMillis: now) }
            },
            LoadScenario(name: "token/refresh", path: "/v2/token/refresh", itemsPerRequest: 1, itemName: "tokens", authenticated: false, isBaseline: false) { fixture, now in
                (0..<1_024).map { index in
                    let request = GenerateTokenRequest(identity: IdentityFields(email: .string(BenchmarkFixture.email(index))))
                    guard case .success(.tokens(let tokens)) = fixture.snapshot.generateToken(request, client: fixture.client, nowMillis: now) else {
                        fatalError("the fixture cannot issue refresh tokens")
                    }
                    return tokens.refreshToken
                }
            },
            identityMap(version: "v3", mapBatchSize: mapBatchSize),
            identityMap(version: "v2", mapBatchSize: mapBatchSize),
            LoadScenario(name: "key/sharing", path: "/v2/key/sharing", itemsPerRequest: 1, itemName: "requests", authenticated: true, isBaseline: false) { fixture, now in
                (0..<256).map { _ in fixture.envelope("{}", nowMillis: now) }
            },
            LoadScenario(name: "key/bidstream", path: "/v2/key/bidstream", itemsPerRequest: 1, itemName: "requests", authenticated: true, isBaseline: false) { fixture, now in
                (0..<256).map { _ in fixture.envelope("{}", nowMillis: now) }
            },
        ]
    }
}
