@preconcurrency import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import UIDOperatorCore
import Logging
import UIDProtocol
import UIDStore
@testable import UIDServer

/// Drives the real router through Hummingbird's in-process test client.
@Suite struct ServerTests {
    static let now: Int64 = 1_750_000_000_000

    struct Harness {
        let app: Application<RouterResponder<BasicRequestContext>>
        let credentials: ClientCredentials
        let snapshot: OperatorSnapshot
        let store: SQLiteStore
        let holder: SnapshotHolder
        let contents: StoreContents

        init(scope: IdentityScope = .uid2, extraClients: [ClientKey] = []) throws {
            var (contents, credentials) = InitialDataset.generate(scope: scope, environment: .test, nowMillis: ServerTests.now, bucketCount: 7)
            contents.clients += extraClients
            self.contents = contents
            snapshot = try OperatorSnapshot(config: OperatorConfig(scope: scope), contents: contents)
            self.credentials = credentials
            store = try SQLiteStore(path: FileManager.default.temporaryDirectory.appendingPathComponent("server-\(UUID().uuidString).sqlite").path)
            holder = SnapshotHolder(snapshot)
            let router = OperatorServer.makeRouter(OperatorServer.Dependencies(
                holder: holder, store: store, originPolicy: OriginPolicy(publicSuffixList: PublicSuffixList(text: "com\nco.uk\n")),
                clock: OperatorClock { ServerTests.now }, logger: Logger(label: "test")))
            app = Application(router: router)
        }

        var secret: SymmetricKey { SymmetricKey(data: Base64.decode(credentials.secret)!) }

        func envelope(_ json: String, timestamp: Int64 = ServerTests.now, secret: SymmetricKey? = nil, nonce: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]) -> [UInt8] {
            var plain = [UInt8]()
            plain.appendBigEndian(timestamp)
            plain += nonce
            plain += Array(json.utf8)
            return [1] + (try! AESGCMBox.seal(plain, key: secret ?? self.secret))
        }

        func headers(key: String? = nil, contentType: String? = nil) -> HTTPFields {
            var fields: HTTPFields = [.authorization: "Bearer \(key ?? credentials.apiKey)"]
            if let contentType { fields[.contentType] = contentType }
            return fields
        }

        /// Opens a sealed response and checks the nonce echo.
        func open(_ body: [UInt8], nonce: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]) throws -> [String: Any] {
            let plain = Array(try AESGCMBox.open(body, key: secret))
            #expect(Array(plain[8..<16]) == nonce)
            #expect(plain.prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) } == ServerTests.now)
            return try JSONSerialization.jsonObject(with: Data(plain[16...])) as! [String: Any]
        }
    }

    static func text(_ response: TestResponse) -> String { String(buffer: response.body) }

    static func json(_ response: TestResponse) -> [String: String] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: String] ?? [:]
    }

    @Test func generateOverTextAndBinaryFraming() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let body = harness.envelope(#"{"email":"user@example.com"}"#)
            try await client.execute(uri: "/v2/token/generate", method: .post, headers: harness.headers(),
                                     body: ByteBuffer(string: Base64.encode(body))) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain")
                let json = try harness.open(Base64.decode(Self.text(response))!)
                #expect(json["status"] as? String == "success")
                let tokens = json["body"] as! [String: Any]
                #expect((tokens["refresh_token"] as? String)?.count == 388)
                #expect(tokens["identity_expires"] as? Int64 == ServerTests.now + 86_400_000)
            }
            try await client.execute(uri: "/v2/token/generate", method: .post,
                                     headers: harness.headers(contentType: "application/octet-stream"), body: ByteBuffer(bytes: body)) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/octet-stream")
                let json = try harness.open(Array(buffer: response.body))
                #expect(json["status"] as? String == "success")
            }
            // The optout test identity: 200 with an encrypted body-less status.
            try await client.execute(uri: "/v2/token/generate", method: .post, headers: harness.headers(),
                                     body: ByteBuffer(string: Base64.encode(harness.envelope(#"{"phone":"+00000000000"}"#)))) { response in
                let json = try harness.open(Base64.decode(Self.text(response))!)
                #expect(json["status"] as? String == "optout" && json["body"] == nil)
            }
        }
    }

    @Test func authenticationAndRoles() async throws {
        let (mapper, mapperCredentials) = InitialDataset.newClient(scope: .uid2, environment: .test, siteID: 1234, roles: [.mapper], name: "m", nowSeconds: 0)
        var (disabled, disabledCredentials) = InitialDataset.newClient(scope: .uid2, environment: .test, siteID: 1234, roles: [.generator], name: "d", nowSeconds: 0)
        disabled.disabled = true
        let disabledKey = disabledCredentials.apiKey
        let harness = try Harness(extraClients: [mapper, disabled])
        try await harness.app.test(.router) { client in
            let body = ByteBuffer(string: Base64.encode(harness.envelope(#"{"email":"a@b.com"}"#)))
            for headers: HTTPFields in [[:], harness.headers(key: "UID2-C-T-999-abcdef.nope"), harness.headers(key: mapperCredentials.apiKey),
                                        harness.headers(key: disabledKey), [.authorization: "Basic " + harness.credentials.apiKey]] {
                try await client.execute(uri: "/v2/token/generate", method: .post, headers: headers, body: body) { response in
                    #expect(response.status == .unauthorized)
                    #expect(Self.text(response) == #"{"status":"unauthorized"}"#)
                }
            }
            try await client.execute(uri: "/v2/token/generate", method: .post,
                                     headers: [.authorization: "  bEaReR \(harness.credentials.apiKey)  "], body: body) { response in
                #expect(response.status == .ok, "scheme is case-insensitive and the header is trimmed")
            }
        }
    }

    /// `site disable` reaches the API with the next snapshot: every client of the site gets the same
    /// 401 as a disabled client, and enabling the site again lets them back in.
    @Test func clientsOfADisabledSiteAre401UntilItIsEnabledAgain() async throws {
        let harness = try Harness()
        var contents = harness.contents
        contents.sites = contents.sites.map { var site = $0; site.enabled = site.id != harness.credentials.siteID; return site }
        let disabledSite = try OperatorSnapshot(config: harness.snapshot.config, contents: contents)
        try await harness.app.test(.router) { client in
            let calls = [("/v2/token/generate", #"{"email":"a@b.com"}"#), ("/v3/identity/map", #"{"email":["a@b.com"]}"#), ("/v2/key/sharing", "{}")]
            for (snapshot, status) in [(disabledSite, HTTPResponse.Status.unauthorized), (harness.snapshot, .ok)] {
                harness.holder.replace(with: snapshot)
                for (path, json) in calls {
                    let body = ByteBuffer(string: Base64.encode(harness.envelope(json)))
                    try await client.execute(uri: path, method: .post, headers: harness.headers(), body: body) { response in
                        #expect(response.status == status, "\(path)")
                        if status == .unauthorized { #expect(Self.text(response) == #"{"status":"unauthorized"}"#) }
                    }
                }
            }
        }
    }

    @Test func envelopeAndPayloadErrorsAre400s() async throws {
        let harness = try Harness(scope: .euid)
        let docs = "https://euid.eu/docs/getting-started/gs-encryption-decryption"
        let cases: [(String, String)] = [
            ("", "Invalid body: Body is missing."),
            ("%%%", "Invalid body: Body is not valid base64. See \(docs) for details on the request envelope format."),
            (#"{"email":"a@b.com"}"#, "Invalid body: The request body is unencrypted JSON. It must be an encrypted request envelope. See \(docs)#encryption-and-decryption-code-examples for encryption and decryption code examples."),
            (Base64.encode(harness.envelope("{}", secret: SymmetricKey(size: .bits256))), "Invalid body: Check encryption key (ClientSecret). See \(docs) for details on the request envelope format."),
            (Base64.encode(harness.envelope("{}", timestamp: ServerTests.now - 600_000)), "Invalid timestamp: Request too old or client time drift."),
            (Base64.encode(harness.envelope("[1,2]")), "Invalid payload in body: Data is not valid json string."),
            (Base64.encode(harness.envelope("{not json")), "Invalid payload in body: Data is not valid json string."),
            (Base64.encode(harness.envelope(#"{"email":42}"#)), "Invalid Identifier: email must be a JSON string"),
            (Base64.encode(harness.envelope(#"{"email":"a@b.com","tcf_consent_string":7}"#)), "User consent is invalid"),
            (Base64.encode(harness.envelope("")), "Required Parameter Missing: exactly one of [email, email_hash, phone, phone_hash] must be specified"),
        ]
        try await harness.app.test(.router) { client in
            for (body, message) in cases {
                try await client.execute(uri: "/v2/token/generate", method: .post, headers: harness.headers(), body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .badRequest, "\(message)")
                    #expect(Self.json(response) == ["status": "client_error", "message": message])
                }
            }
        }
    }

    @Test func oversizedBodiesAre413AndUnknownRoutesAreJSON() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let big = ByteBuffer(repeating: UInt8(ascii: "A"), count: (1 << 20) + 1)
            for path in ["/v2/token/generate", "/v2/token/refresh"] {
                try await client.execute(uri: path, method: .post, headers: harness.headers(), body: big) { response in
                    #expect(response.status == .contentTooLarge)
                    #expect(Self.text(response) == "Request Entity Too Large")
                }
            }
            try await client.execute(uri: "/v2/nothing", method: .post) { response in
                #expect(response.status == .notFound && Self.json(response)["status"] == "not_found")
            }
            try await client.execute(uri: "/ops/healthcheck", method: .get) { response in
                #expect(response.status == .ok && Self.text(response) == "OK")
            }
        }
    }

    @Test func refreshIsSealedWithTheResponseKeyAndNeverA500() async throws {
        let harness = try Harness()
        guard case .success(.tokens(let issued)) = harness.snapshot.generateToken(
            GenerateTokenRequest(identity: IdentityFields(email: .string("r@example.com"))),
            client: harness.snapshot.clients.clients[0], nowMillis: ServerTests.now)
        else { Issue.record("generate failed"); return }
        try await harness.app.test(.router) { client in
            try await client.execute(uri: "/v2/token/refresh", method: .post, body: ByteBuffer(string: issued.refreshToken)) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "text/plain")
                let key = SymmetricKey(data: Base64.decode(issued.refreshResponseKey)!)
                let plain = try AESGCMBox.open(Base64.decode(Self.text(response))!, key: key)
                let json = try JSONSerialization.jsonObject(with: plain) as! [String: Any]
                #expect(json["status"] as? String == "success")
            }
            var tampered = Base64.decode(issued.refreshToken)!
            for index in stride(from: 0, to: tampered.count, by: 17) {
                tampered[index] ^= 0x5A
                try await client.execute(uri: "/v2/token/refresh", method: .post, headers: harness.headers(),
                                         body: ByteBuffer(string: Base64.encode(tampered))) { response in
                    #expect(response.status == .badRequest || response.status == .ok, "byte \(index)")
                }
                tampered[index] ^= 0x5A
            }
            try await client.execute(uri: "/v2/token/refresh", method: .post, headers: harness.headers(), body: ByteBuffer(string: "abc")) { response in
                #expect(response.status == .badRequest)
                #expect(Self.json(response) == ["status": "invalid_token", "message": "Invalid Token presented"])
            }
            try await client.execute(uri: "/v2/token/refresh", method: .post, body: ByteBuffer(string: "abc")) { response in
                #expect(Self.json(response) == ["status": "error", "message": "Error refreshing token"])
            }
        }
    }
}
