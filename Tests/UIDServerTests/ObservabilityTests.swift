@preconcurrency import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing
import UIDOperatorCore
import UIDProtocol
import UIDStore
@testable import UIDServer

/// /metrics, request ids and the JSON log format, through the real router.
@Suite struct ObservabilityTests {
    struct Harness {
        let app: Application<RouterResponder<BasicRequestContext>>
        let credentials: ClientCredentials
        let metrics: OperatorMetrics?

        init(metrics enabled: Bool = true, accessLog: Logger? = nil) throws {
            let (contents, credentials) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: ServerTests.now, bucketCount: 7)
            let snapshot = try OperatorSnapshot(config: OperatorConfig(scope: .uid2), contents: contents)
            self.credentials = credentials
            let store = try SQLiteStore(path: FileManager.default.temporaryDirectory.appendingPathComponent("obs-\(UUID().uuidString).sqlite").path)
            var dependencies = OperatorServer.Dependencies(
                holder: SnapshotHolder(snapshot), store: store, originPolicy: OriginPolicy(publicSuffixList: PublicSuffixList(text: "com\n")),
                clock: OperatorClock { ServerTests.now }, logger: Logger(label: "test")
            )
            var paths = OperatorServer.knownPaths(clientSide: true)
            paths.insert("/metrics")
            metrics = enabled ? OperatorMetrics(version: "test", paths: paths) : nil
            dependencies.metrics = metrics
            dependencies.accessLog = accessLog
            app = Application(router: OperatorServer.makeRouter(dependencies))
        }

        var secret: SymmetricKey { SymmetricKey(data: Base64.decode(credentials.secret)!) }

        func envelope(_ json: String) -> ByteBuffer {
            let sealed = try! RequestEnvelope.seal(payload: Array(json.utf8), timestampMillis: ServerTests.now, nonce: [1, 2, 3, 4, 5, 6, 7, 8], secret: secret)
            return ByteBuffer(string: Base64.encode(sealed))
        }

        var auth: HTTPFields { [.authorization: "Bearer \(credentials.apiKey)"] }
    }

    /// The value of the sample `name{labels}` exactly as rendered (labels in the order they were made).
    static func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    static func scrape(_ client: some TestClientProtocol) async throws -> String {
        try await client.execute(uri: "/metrics", method: .get) { response in
            #expect(response.status == .ok)
            return String(buffer: response.body)
        }
    }

    @Test func countsAnswersByRouteCodeAndStatus() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            for _ in 0..<2 {
                try await client.execute(uri: "/v2/token/generate", method: .post, headers: harness.auth, body: harness.envelope(#"{"email":"a@example.com"}"#)) {
                    #expect($0.status == .ok)
                }
            }
            try await client.execute(uri: "/v2/token/generate", method: .post, headers: harness.auth, body: harness.envelope(#"{"email":"optout@example.com"}"#)) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/v2/token/generate", method: .post, headers: harness.auth, body: harness.envelope(#"{"email":"not an email"}"#)) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(uri: "/v2/token/generate", method: .post, body: ByteBuffer(string: "AAAA")) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/somewhere/else", method: .get) { #expect($0.status == .notFound) }
            let text = try await Self.scrape(client)
            let generate = #"uid_http_requests_total{path="/v2/token/generate",code="#
            #expect(Self.sample(text, generate + #""200",status="success"}"#) == 2)
            #expect(Self.sample(text, generate + #""200",status="optout"}"#) == 1)
            #expect(Self.sample(text, generate + #""400",status="client_error"}"#) == 1)
            #expect(Self.sample(text, generate + #""401",status="unauthorized"}"#) == 1)
            #expect(Self.sample(text, #"uid_http_requests_total{path="other",code="404",status="not_found"}"#) == 1)
            #expect(Self.sample(text, #"uid_http_request_duration_seconds_count{path="/v2/token/generate"}"#) == 5)
            let site = harness.credentials.siteID
            #expect(Self.sample(text, #"uid2_token_response_status_count_total{site_id="\#(site)",token_endpoint="GenerateV2",token_response_status="Success",advertising_token_version="V4",cstg="false",platform_type="Other"}"#) == 2)
            #expect(Self.sample(text, "uid_salt_buckets") == 7)
            #expect(Self.sample(text, "uid_healthy") == 1)
            // The scrape counts itself only after it has answered.
            let again = try await Self.scrape(client)
            #expect(Self.sample(again, #"uid_http_requests_total{path="/metrics",code="200",status="success"}"#) == 1)
        }
    }

    @Test func requestIDIsKeptWhenPlainAndMadeOtherwise() async throws {
        let harness = try Harness(metrics: false)
        try await harness.app.test(.router) { client in
            try await client.execute(uri: "/ops/healthcheck", method: .get, headers: [ObservedHeaders.requestID: "abc-123"]) {
                #expect($0.headers[ObservedHeaders.requestID] == "abc-123")
            }
            try await client.execute(uri: "/ops/healthcheck", method: .get, headers: [ObservedHeaders.requestID: "a b"]) {
                let id = $0.headers[ObservedHeaders.requestID] ?? ""
                #expect(id.count == 16 && id != "a b")
            }
            // Without metrics there is no /metrics.
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test func accessLogNamesTheSiteAndTheRequestButNoSecret() async throws {
        let lines = LineCollector()
        var access = Logger(label: "access") { label in JSONLogHandler(label: label, metadataProvider: nil, write: lines.append) }
        access.logLevel = .info
        let harness = try Harness(accessLog: access)
        try await harness.app.test(.router) { client in
            var headers = harness.auth
            headers[ObservedHeaders.requestID] = "req-1"
            try await client.execute(uri: "/v2/token/generate", method: .post, headers: headers, body: harness.envelope(#"{"email":"someone@example.com"}"#)) {
                #expect($0.status == .ok)
            }
        }
        let logged = lines.lines
        #expect(logged.count == 1)
        let entry = try #require(try JSONSerialization.jsonObject(with: Data(logged.first?.utf8 ?? "".utf8)) as? [String: Any])
        #expect(entry["request_id"] as? String == "req-1")
        #expect(entry["path"] as? String == "/v2/token/generate")
        #expect(entry["code"] as? String == "200")
        #expect(entry["site_id"] as? String == String(harness.credentials.siteID))
        #expect(entry["client_key_id"] as? String != nil)
        let text = logged.joined()
        #expect(!text.contains(harness.credentials.apiKey) && !text.contains(harness.credentials.secret) && !text.contains("someone@"))
    }

    @Test func jsonLinesCarryTheRequestIDOfTheTaskThatLogs() async throws {
        let lines = LineCollector()
        let logger = Logger(label: "json") { label in
            JSONLogHandler(label: label, metadataProvider: RequestObservation.metadataProvider, write: lines.append)
        }
        RequestObservation.$current.withValue(RequestObservation(requestID: "r-42", metrics: nil)) {
            logger.info("inside", metadata: ["n": .stringConvertible(1)])
        }
        logger.warning("outside")
        let entries = lines.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(entries.count == 2)
        #expect(entries.first?["request_id"] as? String == "r-42")
        #expect(entries.first?["message"] as? String == "inside")
        #expect(entries.first?["n"] as? String == "1")
        #expect(entries.last?["request_id"] == nil)
        #expect(entries.last?["level"] as? String == "warning")
    }

    @Test func labelFamiliesStopAtTheirLimit() throws {
        let metrics = OperatorMetrics(version: "test", paths: [])
        let family = CounterFamily<Int>("uid_test_total", factory: metrics.factory, limit: 2, dropped: metrics.droppedSeries) { [("n", String($0))] }
        for key in [1, 2, 3, 3, 1] { family.increment(key) }
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(Self.sample(text, #"uid_test_total{n="1"}"#) == 2)
        #expect(Self.sample(text, #"uid_test_total{n="2"}"#) == 1)
        #expect(Self.sample(text, #"uid_test_total{n="3"}"#) == nil)
        #expect(Self.sample(text, "uid_metrics_series_dropped_total") == 2)
    }

    /// A refresh token claims its own creation time; the extremes are counted, not trapped on.
    @Test(arguments: [Int64.min, Int64.max, 0])
    func refreshAgeOfAnyClaimedCreationTime(_ created: Int64) throws {
        let metrics = OperatorMetrics(version: "test", paths: [])
        let observation = RequestObservation(requestID: "r", metrics: metrics)
        let request = Request(
            head: HTTPRequest(method: .post, scheme: "http", authority: "localhost", path: "/v2/token/refresh"),
            body: RequestBody(buffer: ByteBuffer())
        )
        observation.refreshed(
            RefreshedTokenFacts(siteID: 7, version: .v3, createdMillis: created), identityLifetimeSeconds: 3600,
            nowMillis: ServerTests.now, request: request
        )
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(Self.sample(text, #"uid2_token_refresh_duration_seconds_count{site_id="7",has_origin_header="false"}"#) == 1)
        #expect(Self.sample(text, #"uid2_advertising_token_expired_on_refresh_total{site_id="7",has_origin_header="false",is_expired="\#(created == Int64.max ? "false" : "true")"}"#) == 1)
    }

    @Test(arguments: [
        ("abc-123", true), ("A.b:c_d-1", true), ("", false), ("a b", false), ("x\ny", false), (String(repeating: "a", count: 129), false),
        ("é", false),
    ])
    func requestIDAcceptance(_ text: String, _ accepted: Bool) {
        #expect(RequestID.isAcceptable(text) == accepted)
    }

    @Test func clientVersionsAndPlatformsAreBounded() {
        #expect(BusinessMetrics.clientVersionLabel("uid2-client-python-2.9.0") == "uid2-client-python-2.9.0")
        #expect(BusinessMetrics.clientVersionLabel("evil\"} 1\n") == "invalid")
        #expect(BusinessMetrics.clientVersionLabel(String(repeating: "a", count: 49)) == "invalid")
        #expect(BusinessMetrics.platform(clientVersion: "uid2-ios-1.0", origin: nil) == .inApp)
        #expect(BusinessMetrics.platform(clientVersion: "uid2-client-python-2.9.0", origin: "https://a.com") == .hasOriginHeader)
        #expect(BusinessMetrics.platform(clientVersion: nil, origin: nil) == .other)
    }
}

/// Collects written log lines (a handler's `write`).
final class LineCollector: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }
    var append: @Sendable (Data) -> Void {
        { data in self.storage.withLock { $0.append(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)) } }
    }
}
