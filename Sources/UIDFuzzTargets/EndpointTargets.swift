@preconcurrency import Crypto
import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import UIDOperatorCore
import UIDProtocol
import UIDServer
import UIDStore

/// The real router, driven in-process: every endpoint's authentication, envelope, payload decoding
/// and use case, with the promise checked that no input earns a 5xx.
final class EndpointHarness: Sendable {
    static let shared = EndpointHarness()

    static let keyedPaths = [
        "/v2/token/generate", "/v2/token/validate", "/v2/token/logout", "/v2/identity/map", "/v3/identity/map",
        "/v2/identity/buckets", "/v2/key/latest", "/v2/key/bidstream", "/v2/key/sharing", "/v2/optout/status",
    ]

    let world = FuzzWorld.shared
    private let responder: RouterResponder<BasicRequestContext>
    private let channel = NIOAsyncTestingChannel()
    private let logger = Logger(label: "uid-fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

    private init() {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("uid-fuzz-\(getpid()).sqlite").path
        // The store only takes logouts; a harness that cannot create one has nothing to run.
        guard let store = try? SQLiteStore(path: path) else { fatalError("uid-fuzz: cannot create a store at \(path)") }
        let router = OperatorServer.makeRouter(OperatorServer.Dependencies(
            holder: SnapshotHolder(FuzzWorld.shared.snapshot), store: store, originPolicy: FuzzWorld.shared.originPolicy,
            clock: OperatorClock { FuzzWorld.nowMillis }, logger: Logger(label: "uid-fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
        ))
        responder = router.buildResponder()
    }

    /// Sends one request and waits for the answer; nil if the router threw (a finding too: routes
    /// must answer every request with a response).
    func send(path: String, body: [UInt8], headers: HTTPFields) -> HTTPResponse.Status? {
        var head = HTTPRequest(method: .post, scheme: "http", authority: "127.0.0.1", path: path)
        head.headerFields = headers
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer(bytes: body)))
        let context = BasicRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: logger))
        let answer = StatusBox()
        let done = DispatchSemaphore(value: 0)
        Task { [responder] in
            answer.status = try? await responder.respond(to: request, context: context).status
            done.signal()
        }
        done.wait()
        return answer.status
    }

    var apiKeyHeader: HTTPFields { [.authorization: "Bearer \(world.credentials.apiKey)"] }

    static func check(_ status: HTTPResponse.Status?, _ what: String) -> String? {
        guard let status else { return "\(what): the router threw instead of answering" }
        return status.code >= 500 ? "\(what): answered \(status.code)" : nil
    }
}

/// Written once by the request task, read after the semaphore: the semaphore orders the two.
private final class StatusBox: @unchecked Sendable {
    var status: HTTPResponse.Status?
}

enum EndpointTargets {
    static let authorization = FuzzTarget(
        name: "authorization",
        summary: "the Authorization header (bearer parsing, API key lookup) on a keyed endpoint",
        seeds: {
            let key = FuzzWorld.shared.credentials.apiKey
            return ["Bearer \(key)", "bearer   \(key)", "Bearer ", "Basic abc", "Bearer \(key.dropLast())x", "Bearer UID2-C-L-999-abcdeF.x",
                    "Bearer LOCALbGlv", "  BEARER \(key)  "].map { Array($0.utf8) }
        },
        run: { bytes in
            let harness = EndpointHarness.shared
            let world = harness.world
            var headers = HTTPFields()
            if let name = HTTPField.Name("Authorization") { headers.append(HTTPField(name: name, lenientValue: bytes)) }
            let body = Array(Base64.encode(world.requestEnvelope(Array("{}".utf8))).utf8)
            _ = world.snapshot.clients.client(forAPIKey: String(decoding: bytes, as: UTF8.self))
            return EndpointHarness.check(harness.send(path: "/v2/key/latest", body: body, headers: headers), "key/latest")
        }
    )

    /// Selector: which endpoint, and whether the bytes are the whole body or the JSON inside a
    /// valid envelope (the usual case, and the only way past AES-GCM to the payload decoders).
    static let payloads = FuzzTarget(
        name: "endpoint-payloads",
        summary: "every keyed endpoint's payload decoding and use case, plus refresh's raw body, answering no 5xx",
        seeds: {
            let payloads = [
                #"{"email":"user@example.com"}"#, #"{"email_hash":"tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVRQ="}"#,
                #"{"phone":"+12345678901","tcf_consent_string":"CPehNtWPehNtWABAMBFRACBoALAAAEJAAIYgAKwAQAKgArABAAqAAA"}"#,
                #"{"token":"AA==","email":"user@example.com"}"#, #"{"email":["a@b.com","c@d.com"],"phone":[]}"#,
                #"{"email":[],"email_hash":null}"#, #"{"since_timestamp":"2024-01-01T00:00:00"}"#,
                #"{"advertising_ids":["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]}"#, "{}", "[]", "null", #"{"email":1e999}"#,
            ]
            var seeds = [[UInt8]]()
            for (index, _) in EndpointHarness.keyedPaths.enumerated() {
                for payload in payloads { seeds.append(FuzzInput.with(UInt8(index * 2 + 1), payload)) }
            }
            if let refresh = FuzzWorld.shared.issuedTokens?.refreshToken {
                seeds.append(FuzzInput.with(UInt8(EndpointHarness.keyedPaths.count * 2), refresh))
            }
            return seeds
        },
        run: { bytes in
            let harness = EndpointHarness.shared
            let input = FuzzInput(bytes)
            let choice = Int(input.selector) / 2 % (EndpointHarness.keyedPaths.count + 1)
            guard choice < EndpointHarness.keyedPaths.count else {
                // /v2/token/refresh takes the sealed refresh token (or a bare legacy token) as its body.
                return EndpointHarness.check(harness.send(path: "/v2/token/refresh", body: input.rest, headers: [:]), "token/refresh")
            }
            let path = EndpointHarness.keyedPaths[choice]
            let body = input.selector & 1 == 1 ? Array(Base64.encode(harness.world.requestEnvelope(input.rest)).utf8) : input.rest
            return EndpointHarness.check(harness.send(path: path, body: body, headers: harness.apiKeyHeader), path)
        }
    )

    /// `/v2/token/client-generate`: the outer JSON as sent, or a valid outer request whose
    /// encrypted inner payload is the fuzzed bytes (reached only with the site's real public key).
    static let clientSide = FuzzTarget(
        name: "client-side",
        summary: "client-side generate: outer JSON, public key, iv, timestamp, app name, encrypted inner payload",
        seeds: {
            [FuzzInput.with(1, #"{"email_hash":"tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVRQ="}"#),
             FuzzInput.with(0, #"{"payload":"AAAA","iv":"AAAAAAAAAAAAAAAA","public_key":"AAAA","timestamp":1,"subscription_id":"x"}"#),
             FuzzInput.with(0, "{}"), FuzzInput.with(3, #"{"phone_hash":"x"}"#)]
        },
        run: { bytes in
            let harness = EndpointHarness.shared
            let input = FuzzInput(bytes)
            let headers: HTTPFields = [.origin: "https://www.example.com", .contentType: "application/json"]
            guard input.selector & 1 == 1 else {
                return EndpointHarness.check(harness.send(path: "/v2/token/client-generate", body: input.rest, headers: headers), "client-generate")
            }
            let body = clientSideRequest(inner: input.rest, appName: input.selector & 2 != 0 ? "com.example.app" : nil)
            return EndpointHarness.check(harness.send(path: "/v2/token/client-generate", body: body, headers: headers), "client-generate")
        }
    )

    /// What the JavaScript SDK sends: an ephemeral P-256 key, and the payload sealed with the ECDH
    /// secret, authenticating `[timestamp]` (or `[timestamp,"app"]`).
    private static func clientSideRequest(inner: [UInt8], appName: String?) -> [UInt8] {
        let world = FuzzWorld.shared
        let ephemeral = P256.KeyAgreement.PrivateKey()
        guard let secret = try? ephemeral.sharedSecretFromKeyAgreement(with: world.keypair.privateKey.publicKey) else { return [] }
        let key = secret.withUnsafeBytes { SymmetricKey(data: $0) }
        let aad = appName.map { "[\(FuzzWorld.nowMillis),\"\($0)\"]" } ?? "[\(FuzzWorld.nowMillis)]"
        var box = [UInt8]()
        guard (try? AESGCMBox.seal(inner, key: key, authenticating: Array(aad.utf8), appendingTo: &box)) != nil else { return [] }
        var fields: [String: Any] = [
            "payload": Base64.encode(box.dropFirst(12)), "iv": Base64.encode(box.prefix(12)),
            "public_key": Base64.encode(Array(ephemeral.publicKey.derRepresentation)), "timestamp": FuzzWorld.nowMillis,
            "subscription_id": world.keypair.subscriptionID,
        ]
        if let appName { fields["app_name"] = appName }
        return (try? JSONSerialization.data(withJSONObject: fields)).map(Array.init) ?? []
    }
}
