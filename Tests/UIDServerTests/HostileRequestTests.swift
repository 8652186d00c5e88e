@preconcurrency import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDServer

/// Single requests that stopped the whole operator before these fixes, through the real router:
/// each must now get the reference's 4xx while the server goes on answering.
@Suite struct HostileRequestTests {
    @Test(arguments: [Int64.min, Int64.min + 1, Int64.max])
    func envelopeTimestampsAtTheIntegerLimitsAre400s(timestamp: Int64) async throws {
        let harness = try ServerTests.Harness()
        try await harness.app.test(.router) { client in
            for path in ["/v2/token/generate", "/v2/identity/map", "/v2/key/sharing"] {
                let body = ByteBuffer(string: Base64.encode(harness.envelope(#"{"email":"a@b.com"}"#, timestamp: timestamp)))
                try await client.execute(uri: path, method: .post, headers: harness.headers(), body: body) { response in
                    #expect(response.status == .badRequest, "\(path)")
                    #expect(ServerTests.json(response) == ["status": "client_error", "message": "Invalid timestamp: Request too old or client time drift."])
                }
            }
            try await client.execute(uri: "/ops/healthcheck", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test(arguments: ["AA==", "QQ==abcd"])
    func validateWithATokenShorterThanItsHeaderIs400(token: String) async throws {
        let harness = try ServerTests.Harness()
        try await harness.app.test(.router) { client in
            let body = ByteBuffer(string: Base64.encode(harness.envelope(#"{"token":"\#(token)","email":"a@b.com"}"#)))
            try await client.execute(uri: "/v2/token/validate", method: .post, headers: harness.headers(), body: body) { response in
                #expect(response.status == .badRequest)
                #expect(ServerTests.json(response) == ["status": "client_error", "message": "Invalid token"])
            }
        }
    }

    /// A refresh token minted under a key that participants download (master, site) is refused,
    /// whether bare or sealed with the response key under that key; a genuine one refreshes.
    @Test func refreshTokensForgedUnderDownloadableKeysAreRefused() async throws {
        let harness = try ServerTests.Harness()
        let keys = harness.snapshot.keys
        let nowSeconds = ServerTests.now / 1000
        let master = try #require(keys.activeMasterKey(atSeconds: nowSeconds))
        let site = try #require(keys.activeSiteKey(siteID: 999, atSeconds: nowSeconds))
        let refresh = try #require(keys.activeRefreshKey(atSeconds: nowSeconds))
        @Sendable func token(under key: KeysetKey) -> String {
            RefreshToken(
                scope: .uid2, type: .email, expiresMillis: ServerTests.now + 86_400_000, createdMillis: ServerTests.now,
                publisher: PublisherIdentity(siteID: 999), privacyBits: .generated, establishedMillis: ServerTests.now,
                firstLevelHash: Array(repeating: 9, count: 32)
            ).encodeV3(refreshKey: key)
        }
        try await harness.app.test(.router) { client in
            for forger in [master, site] {
                let envelope = SealedRefreshToken.seal(refreshToken: token(under: forger), responseKey: Array(repeating: 1, count: 32), scope: .uid2, refreshKey: forger)
                try await client.execute(uri: "/v2/token/refresh", method: .post, body: ByteBuffer(string: envelope)) { response in
                    #expect(response.status == .badRequest)
                    #expect(ServerTests.json(response)["status"] == "client_error")
                }
                // The forged token inside a genuine envelope: the token itself is refused.
                let wrapped = SealedRefreshToken.seal(refreshToken: token(under: forger), responseKey: Array(repeating: 1, count: 32), scope: .uid2, refreshKey: refresh)
                try await client.execute(uri: "/v2/token/refresh", method: .post, body: ByteBuffer(string: wrapped)) { response in
                    #expect(response.status == .badRequest)
                    #expect(ServerTests.json(response) == ["status": "error", "message": "Error refreshing token"])
                }
            }
            let genuine = SealedRefreshToken.seal(refreshToken: token(under: refresh), responseKey: Array(repeating: 1, count: 32), scope: .uid2, refreshKey: refresh)
            try await client.execute(uri: "/v2/token/refresh", method: .post, body: ByteBuffer(string: genuine)) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func unknownAndOversizedAPIKeysAreRefusedWithoutHashing() async throws {
        let harness = try ServerTests.Harness()
        let directory = harness.snapshot.clients
        #expect(directory.client(forAPIKey: harness.credentials.apiKey) != nil)
        #expect(directory.client(forAPIKey: "") == nil)
        #expect(directory.client(forAPIKey: harness.credentials.apiKey + "x") == nil)
        #expect(directory.client(forAPIKey: String(repeating: "A", count: 100_000)) == nil)
        #expect(directory.client(forAPIKey: "UID2-C-T-999-\u{00E9}\u{00E9}.x") == nil)
        try await harness.app.test(.router) { client in
            let body = ByteBuffer(string: Base64.encode(harness.envelope("{}")))
            try await client.execute(uri: "/v2/key/latest", method: .post,
                                     headers: [.authorization: "Bearer " + String(repeating: "k", count: 16_000)], body: body) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }

    @Test func statusPageNeedsAMaintainerKey() async throws {
        let (dsp, dspCredentials) = InitialDataset.newClient(scope: .uid2, environment: .test, siteID: 1234, roles: [.idReader], name: "dsp", nowSeconds: 0)
        let harness = try ServerTests.Harness(extraClients: [dsp])
        try await harness.app.test(.router) { client in
            try await client.execute(uri: "/ops/status", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/ops/status", method: .get, headers: harness.headers(key: dspCredentials.apiKey)) {
                #expect($0.status == .unauthorized)
            }
            // The first start's client holds every role, MAINTAINER included.
            try await client.execute(uri: "/ops/status", method: .get, headers: harness.headers()) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("salt_buckets"))
            }
            try await client.execute(uri: "/ops/healthcheck", method: .get) { #expect($0.status == .ok) }
        }
    }

    /// Endpoints without a key take only what they carry; keyed ones check the key before the body.
    @Test func bodiesAreBoundedByWhatEachEndpointCarries() async throws {
        let harness = try ServerTests.Harness()
        try await harness.app.test(.router) { client in
            try await client.execute(uri: "/v2/token/refresh", method: .post, body: ByteBuffer(bytes: Array(repeating: 0x41, count: 4097))) {
                #expect($0.status == .contentTooLarge)
            }
            try await client.execute(uri: "/v2/token/client-generate", method: .post, headers: [.contentType: "application/json"],
                                     body: ByteBuffer(bytes: Array(repeating: 0x41, count: 16 * 1024 + 1))) {
                #expect($0.status == .contentTooLarge)
            }
            // 100 KiB without a key: refused for the key, not read.
            try await client.execute(uri: "/v2/identity/map", method: .post, body: ByteBuffer(bytes: Array(repeating: 0x41, count: 100 * 1024))) {
                #expect($0.status == .unauthorized)
            }
            // A declared Content-Length over 1 MiB is refused before the key: test_errors.py, over real sockets.
        }
    }

    /// Found by the malformed-input matrix: key endpoints answered 200 whatever the payload was.
    @Test func keyEndpointsRefuseAPayloadThatIsNotAJSONObject() async throws {
        let harness = try ServerTests.Harness()
        try await harness.app.test(.router) { client in
            for path in ["/v2/key/latest", "/v2/key/bidstream", "/v2/key/sharing"] {
                for payload in ["[1]", "\"x\"", "42", "{\"a\":", String(repeating: "[", count: 10_000)] {
                    try await client.execute(uri: path, method: .post, headers: harness.headers(),
                                             body: ByteBuffer(string: Base64.encode(harness.envelope(payload)))) { response in
                        #expect(response.status == .badRequest, "\(path) \(payload.prefix(8))")
                        #expect(ServerTests.json(response)["message"] == "Invalid payload in body: Data is not valid json string.")
                    }
                }
                for payload in ["", "{}", #"{"anything":[1,2]}"#] {
                    try await client.execute(uri: path, method: .post, headers: harness.headers(),
                                             body: ByteBuffer(string: Base64.encode(harness.envelope(payload)))) { response in
                        #expect(response.status == .ok, "\(path) \(payload)")
                    }
                }
            }
        }
    }
}
