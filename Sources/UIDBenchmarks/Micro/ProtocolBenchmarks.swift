import Crypto
import Foundation
import UIDOperatorCore
import UIDProtocol

/// Micro-benchmarks of the protocol library and of the use cases (no HTTP), over the fixture's
/// real keys and salts. Each names what it runs per call.
enum ProtocolBenchmarks {
    static func run(fixture: BenchmarkFixture, budget: Duration, progress: (String) -> Void) -> [Stopwatch.Result] {
        let snapshot = fixture.snapshot
        let client = fixture.client
        let now = currentMillis()
        var results: [Stopwatch.Result] = []
        func measure(_ name: String, items: Int = 1, itemName: String = "calls", _ body: () -> Void) {
            progress(name)
            results.append(Stopwatch.measure(name, itemsPerCall: items, itemName: itemName, budget: budget, body))
        }

        // Envelopes, with a token/generate-sized request and a token-sized answer.
        let request = Array(fixture.envelope(#"{"email":"bench.user.1@example.com"}"#, nowMillis: now).utf8)
        measure("envelope open (generate request)") {
            blackHole(RequestEnvelope.open(body: request, binary: false, secret: client.envelopeKey, nowMillis: now))
        }
        guard case .success(.tokens(let tokens)) = snapshot.generateToken(
            GenerateTokenRequest(identity: IdentityFields(email: .string(BenchmarkFixture.email(1)))), client: client, nowMillis: now
        ) else { fatalError("the fixture cannot generate a token") }
        let answer = Array(#"{"body":{"advertising_token":"\#(tokens.advertisingToken)","refresh_token":"\#(tokens.refreshToken)","identity_expires":\#(tokens.identityExpiresMillis),"refresh_expires":\#(tokens.refreshExpiresMillis),"refresh_from":\#(tokens.refreshFromMillis),"refresh_response_key":"\#(tokens.refreshResponseKey)"},"status":"success"}"#.utf8)
        let nonce = [UInt8](repeating: 7, count: 8)
        measure("envelope seal (generate answer, \(answer.count) B)") {
            blackHole(ResponseEnvelope.seal(json: answer, nonce: nonce, secret: client.envelopeKey, nowMillis: now))
        }
        // AES-GCM alone: swift-crypto builds a context per call; snapshot keys carry a prepared one;
        // one-off keys (a refresh answer's) are prepared for the call.
        measure("AES-GCM seal (\(answer.count) B), swift-crypto") { blackHole(try? AESGCMBox.seal(answer, key: client.secretKey)) }
        measure("AES-GCM seal (\(answer.count) B), prepared key") { blackHole(try? client.envelopeKey.seal(answer)) }
        measure("AES-GCM seal (\(answer.count) B), key prepared per call") { blackHole(try? AESGCMKey(client.secretKey)?.seal(answer)) }
        let answerBase64 = Base64.encode(answer)
        measure("base64 encode (\(answer.count) B)") { blackHole(Base64.encode(answer)) }
        measure("base64 decode (\(answer.count) B)") { blackHole(Base64.decode(answerBase64)) }

        // Identity inputs and the hash chain.
        measure("email normalize (gmail, dots and +tag)") { blackHole(EmailNormalizer.normalize("Jane.Doe+news@GMail.com")) }
        measure("phone validate") { blackHole(PhoneValidator.isValid("+12345678901")) }
        let identityHash = Array(SHA256.hash(data: Array("jane.doe@example.com".utf8)))
        let firstLevelSalt = snapshot.salts.firstLevelSalt
        measure("first-level hash") { blackHole(HashChain.firstLevelHash(identityHash: identityHash, firstLevelSalt: firstLevelSalt)) }
        let flh = HashChain.firstLevelHash(identityHash: identityHash, firstLevelSalt: firstLevelSalt)
        let salt = [UInt8](repeating: 0x5a, count: 32)
        measure("raw UID v2 (salted hash)") {
            blackHole(HashChain.rawUID(firstLevelHash: flh, salt: salt, scope: .uid2, type: .email, v3: false))
        }

        // The bucket lookup every identity makes, positions spread over the table as hashes spread
        // them: on the table as loaded, and with a daily salt run (1/365 of the buckets) applied
        // the way `StoreSync` applies one.
        let salts = snapshot.salts
        var position = 0
        measure("salt bucket lookup") {
            position = (position &+ 7_919) % salts.count
            blackHole(salts[position])
        }
        measure("salt bucket lookup, salts borrowed (identity map)") {
            position = (position &+ 7_919) % salts.count
            blackHole(salts.withBucketSalts(at: position) { $0.id &+ Int64($0.currentSalt?.count ?? 0) &+ Int64($0.previousSalt?.count ?? 0) })
        }
        var rotated = salts
        for changed in stride(from: 0, to: salts.count, by: 365) { rotated.replace(at: changed, with: salts[changed]) }
        measure("salt bucket lookup, 1/365 of buckets changed") {
            position = (position &+ 7_919) % rotated.count
            blackHole(rotated[position])
        }

        // Tokens, with the snapshot's active keys.
        let nowSeconds = now / 1000
        guard let master = snapshot.keys.activeMasterKey(atSeconds: nowSeconds),
              let site = snapshot.keys.activeSiteKey(siteID: client.siteID, atSeconds: nowSeconds),
              let advertising = try? AdvertisingToken.decode(tokens.advertisingToken, keys: snapshot.keys)
        else { fatalError("the fixture's token does not decode") }
        measure("advertising token V4 encode") { blackHole(advertising.encodeV4(masterKey: master, siteKey: site)) }
        measure("advertising token V4 decode") { blackHole(try? AdvertisingToken.decode(tokens.advertisingToken, keys: snapshot.keys)) }
        measure("sealed refresh token open + V3 decode") {
            if let contents = try? SealedRefreshToken.open(tokens.refreshToken, keys: snapshot.keys) {
                blackHole(try? RefreshToken.decode(contents.refreshToken, keys: snapshot.keys))
            }
        }

        // Whole use cases over the snapshot, without HTTP.
        var counter = 0
        measure("use case: token generate") {
            counter += 1
            let request = GenerateTokenRequest(identity: IdentityFields(email: .string(BenchmarkFixture.email(counter & 1023))))
            blackHole(snapshot.generateToken(request, client: client, nowMillis: now))
        }
        measure("use case: token refresh") {
            // What the server does: open the sealed refresh token, then the use case.
            if case .success(let opened) = SealedRefreshToken.openRequestBody(tokens.refreshToken, keys: snapshot.keys) {
                blackHole(snapshot.refreshToken(TokenRefreshRequest(refreshToken: opened.refreshToken, authenticated: false), nowMillis: now))
            }
        }
        let emails = (0..<5_000).map(BenchmarkFixture.email)
        let mapRequest = IdentityMapRequest(inputs: [.email: emails])
        measure("use case: identity map, 5,000 emails", items: emails.count, itemName: "identities") {
            blackHole(snapshot.mapIdentities(mapRequest, nowMillis: now))
        }
        let mapV2Request = IdentityMapV2Request(fields: [.email: .values(emails.map(MapInput.string))])
        measure("use case: identity map v2, 5,000 emails", items: emails.count, itemName: "identities") {
            blackHole(snapshot.mapIdentitiesV2(mapV2Request, nowMillis: now))
        }
        var bucketID: Int64 = 0
        measure("public bucket id (identity map v2)") {
            bucketID = (bucketID &+ 7_919) % 1_048_576
            blackHole(snapshot.publicBucketID(bucketID))
        }
        return results
    }
}
