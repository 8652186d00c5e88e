import Foundation
import Testing
@testable import UIDOperatorCore
@_spi(Differential) @testable import UIDProtocol
@testable import UIDServer

/// The directly written answers must parse to what `JSONEncoder` wrote before.
@Suite struct ResponseJSONTests {
    /// The token body as the server encoded it with `JSONEncoder`, kept here as the reference.
    struct EncodedTokenBody: Encodable {
        let advertising_token: String
        let refresh_token: String
        let identity_expires: Int64
        let refresh_expires: Int64
        let refresh_from: Int64
        let refresh_response_key: String

        init(_ tokens: IdentityTokens) {
            advertising_token = tokens.advertisingToken
            refresh_token = tokens.refreshToken
            identity_expires = tokens.identityExpiresMillis
            refresh_expires = tokens.refreshExpiresMillis
            refresh_from = tokens.refreshFromMillis
            refresh_response_key = tokens.refreshResponseKey
        }
    }

    func object(_ bytes: [UInt8]) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? NSDictionary)
    }

    @Test func tokenAnswersParseToTheEncodersDocument() throws {
        let tokens = IdentityTokens(
            advertisingToken: "A4AAAA-_x", refreshToken: "AAAA+/==", identityExpiresMillis: 1_700_000_000_123,
            refreshExpiresMillis: 1_702_592_000_123, refreshFromMillis: 1_700_003_600_123, refreshResponseKey: "k3y+/="
        )
        let written = try object(TokenOutcome.tokens(tokens).responseJSON())
        let encoded = try #require(try JSONSerialization.jsonObject(with: JSONCoding.encoder.encode(StatusResponse.success(EncodedTokenBody(tokens)))) as? NSDictionary)
        #expect(written == encoded)
        #expect(try object(TokenOutcome.optOut.responseJSON()) == ["status": "optout"])
        #expect(try object(TokenOutcome.insufficientUserConsent.responseJSON()) == ["status": "insufficient_user_consent"])
    }

    /// The vectorisable check against the rule it replaced, for every byte value alone, at each
    /// position of a base64 text, and over random texts of every length up to 700.
    @Test func plainTextCheckAgreesWithTheByteByByteRule() {
        func reference(_ bytes: [UInt8]) -> Bool {
            bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
        }
        func check(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBufferPointer(ResponseJSON.needsNoEscaping) }
        let token = Array(Base64.encode((0..<450).map { UInt8(truncatingIfNeeded: $0 &* 37) }).utf8)
        for value in UInt8.min...UInt8.max {
            #expect(check([value]) == reference([value]), "byte \(value)")
            for position in [0, 1, 15, 16, 31, 32, 33, token.count / 2, token.count - 1] {
                var bytes = token
                bytes[position] = value
                #expect(check(bytes) == reference(bytes), "byte \(value) at \(position)")
            }
        }
        #expect(check([]) && reference([]))
        var generator = SystemRandomNumberGenerator()
        for length in 0...700 {
            let printable = (0..<length).map { _ in UInt8.random(in: 0x20...0x7E, using: &generator) }
            let anything = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            #expect(check(printable) == reference(printable), "length \(length)")
            #expect(check(anything) == reference(anything), "length \(length)")
        }
    }

    @Test func textThatNeedsEscapingGoesThroughTheEncoder() throws {
        var json = ResponseJSON(capacity: 16)
        json.literal("[")
        json.string("a\"b\\c\nd é")
        json.literal(",")
        json.integer(-42)
        json.literal(",")
        json.integer(Int64.min)
        json.literal("]")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json.bytes)) as? [Any])
        #expect(parsed[0] as? String == "a\"b\\c\nd é")
        #expect((parsed[1] as? NSNumber)?.int64Value == -42)
        #expect((parsed[2] as? NSNumber)?.int64Value == Int64.min)
    }

    /// Integers as `String` writes them, and base64 as Foundation encodes it, at every edge.
    @Test func integersAndBase64AreWrittenAsTheStandardLibraryAndFoundationWriteThem() {
        var values: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, 1_700_000_000, 1_700_000_000_999, .max, .min, .max - 1, .min + 1]
        var power: Int64 = 1
        for _ in 0..<18 {
            power *= 10
            values += [power, power - 1, -power, -(power - 1)]
        }
        var generator = SystemRandomNumberGenerator()
        values += (0..<1_000).map { _ in Int64.random(in: .min ... .max, using: &generator) }
        for value in values {
            var json = ResponseJSON(capacity: 0)
            json.literal("[")
            json.integer(value)
            json.literal("]")
            #expect(json.bytes == Array("[\(value)]".utf8), "\(value)")
        }
        for length in 0...70 {
            let raw = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            var json = ResponseJSON(capacity: 0)
            json.literal("x")
            json.base64String(raw)
            #expect(json.bytes == Array("x\"\(Data(raw).base64EncodedString())\"".utf8), "length \(length)")
        }
    }

    @Test func aPieceLeavesOutWholeWhatDoesNotFit() {
        var json = ResponseJSON(capacity: 0)
        json.literal("[")
        json.piece(maxLength: 10) { piece in
            piece.literal("abc")
            [UInt8]().withUnsafeBytes { piece.base64String($0) }   // "", 2 bytes
            piece.integer(-12)
            piece.literal("xyz")   // 8 bytes written: 11 would not fit, so left out
        }
        #expect(json.bytes == Array(#"[abc""-12"#.utf8))
        var wide = ResponseJSON(capacity: 0)
        wide.piece(maxLength: 10) { piece in
            [UInt8](repeating: 1, count: 9).withUnsafeBytes { piece.base64String($0) }   // 14 bytes: left out
            piece.integer(Int64.min)   // 20 bytes: left out
            piece.integer(7)
        }
        #expect(wide.bytes == Array("7".utf8))
    }

    /// Two raw UIDs as long as `InlineBytes` holds and the longest refresh time still fit one piece.
    @Test func theLongestMappedIdentityFitsItsPiece() throws {
        let longest = InlineBytes([UInt8](repeating: 0xFB, count: InlineBytes.capacity))!
        let outcome = MappedIdentity.mapped(current: longest, previous: longest, refreshFromMillis: Int64.min, bucketID: 0)
        let parsed = try object(MapV3Body(results: [.email: [outcome, outcome]]).responseJSON())
        let emails = try #require((parsed["body"] as? NSDictionary)?["email"] as? [NSDictionary])
        #expect(emails.count == 2)
        #expect(emails[1]["u"] as? String == Base64.encode(longest.bytes) && emails[1]["p"] as? String == Base64.encode(longest.bytes))
        #expect((emails[1]["r"] as? NSNumber)?.int64Value == Int64.min / 1000)
    }

    /// The route maps while it writes: the same bytes as mapping first and writing the outcomes,
    /// and a tally of what was not mapped for the metrics.
    @Test func identityMapV3AnswerWrittenWhileMappingIsTheCollectedAnswer() throws {
        let (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: ServerTests.now, bucketCount: 7)
        let snapshot = try OperatorSnapshot(config: OperatorConfig(scope: .uid2), contents: contents)
        let emails = (0..<40).map { "person.\($0)@example.com" } + ["optout@example.com", "not an email"]
        let request = IdentityMapRequest(inputs: [.email: emails, .phone: ["+12345678901", "12345"], .phoneHash: []])
        let streamed = MapV3Body(mapping: request, on: snapshot, nowMillis: ServerTests.now)
        var json = ResponseJSON(capacity: streamed.capacity)
        let tally = streamed.write(into: &json)
        let collected = MapV3Body(results: try snapshot.mapIdentities(request, nowMillis: ServerTests.now).get())
        #expect(json.bytes == collected.responseJSON())
        #expect(tally.optedOut == 1 && tally.invalid == 2)
        #expect(tally.inputs.map(\.kind) == ["email", "phone", "phone_hash"] && tally.inputs.map(\.count) == [42, 2, 0])
        let parsed = try object(json.bytes)
        let body = try #require(parsed["body"] as? NSDictionary)
        #expect((body["email"] as? [NSDictionary])?.count == 42)
        #expect((body["email"] as? [NSDictionary])?[0]["u"] is String)
    }

    /// v2 maps while it writes too: the same bytes as the collected result, with the tally.
    @Test func identityMapV2AnswerWrittenWhileMappingIsTheCollectedAnswer() throws {
        let (contents, _) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: ServerTests.now, bucketCount: 7)
        let snapshot = try OperatorSnapshot(config: OperatorConfig(scope: .uid2), contents: contents)
        let values: [MapInput] = (0..<40).map { .string("person.\($0)@example.com") }
            + [.string("optout@example.com"), .null, .string("not an email"), .string("quote\"d@example.com")]
        let streamed = MapV2Body(mapping: .email, values: values, on: snapshot, nowMillis: ServerTests.now)
        var json = ResponseJSON(capacity: streamed.capacity)
        let tally = streamed.write(into: &json)
        let result = try snapshot.mapIdentitiesV2(IdentityMapV2Request(fields: [.email: .values(values)]), nowMillis: ServerTests.now).get()
        #expect(json.bytes == MapV2Body(result: result, bucketIDs: snapshot.bucketIDEncoder).responseJSON())
        #expect(result.mapped.count == 41 && tally.optedOut == 1 && tally.invalid == 2)
        let mapped = try #require((try object(json.bytes)["body"] as? NSDictionary)?["mapped"] as? [NSDictionary])
        #expect(mapped.count == 41 && mapped.last?["identifier"] as? String == "quote\"d@example.com")
        #expect(mapped.first?["advertising_id"] as? String == Base64.encode(result.mapped[0].advertisingID.bytes))
    }

    @Test func identityMapV3AnswerHasEveryKindAndEachOutcome() throws {
        let current = InlineBytes([UInt8](repeating: 7, count: 32))!
        let previous = InlineBytes([UInt8](repeating: 9, count: 33))!
        let body = MapV3Body(results: [
            .email: [.mapped(current: current, previous: nil, refreshFromMillis: 1_700_000_000_999, bucketID: 1), .optOut],
            .phone: [.mapped(current: current, previous: previous, refreshFromMillis: 2_000, bucketID: 2), .invalidIdentifier],
        ])
        let parsed = try object(body.responseJSON())
        #expect(parsed["status"] as? String == "success")
        let inner = try #require(parsed["body"] as? NSDictionary)
        #expect(Set(inner.allKeys.compactMap { $0 as? String }) == ["email", "email_hash", "phone", "phone_hash"])
        let email = try #require(inner["email"] as? [NSDictionary])
        #expect(email[0]["u"] as? String == Base64.encode(current.bytes))
        #expect(email[0]["p"] is NSNull)
        #expect((email[0]["r"] as? NSNumber)?.int64Value == 1_700_000_000)
        #expect(email[1] == ["e": "optout"])
        let phone = try #require(inner["phone"] as? [NSDictionary])
        #expect(phone[0]["p"] as? String == Base64.encode(previous.bytes))
        #expect(phone[1] == ["e": "invalid identifier"])
        #expect((inner["email_hash"] as? [Any])?.isEmpty == true)
    }

    /// The v2 map body as the server encoded it with `JSONEncoder`, kept here as the reference.
    struct EncodedMapV2Body: Encodable {
        struct Mapped: Encodable {
            let identifier: String
            let advertising_id: String
            let bucket_id: String
        }

        struct Unmapped: Encodable {
            let identifier: String
            let reason: String
        }

        let mapped: [Mapped]
        let unmapped: [Unmapped]?

        /// Public bucket ids as the general Hashids algorithm makes them, with a prefix that needs escaping.
        static let bucketIDPrefix = "a\"d"
        static let bucketIDSecret = "c2VjcmV0IHNhbHQ="

        init(_ result: IdentityMapV2Result) {
            let hashids = Hashids(salt: Self.bucketIDSecret, minLength: 9)
            mapped = result.mapped.map {
                var workspace = Hashids.Workspace()
                let publicID = Self.bucketIDPrefix + hashids.encodeInGeneral($0.bucketID, using: &workspace)
                return Mapped(identifier: $0.identifier, advertising_id: Base64.encode($0.advertisingID.bytes), bucket_id: publicID)
            }
            unmapped = result.unmapped.isEmpty ? nil : result.unmapped.map { Unmapped(identifier: $0.identifier, reason: $0.reason) }
        }
    }

    @Test func identityMapV2AnswerParsesToTheEncodersDocument() throws {
        var result = IdentityMapV2Result()
        result.kind = .email
        result.mapped = [
            .init(identifier: "a@example.com", advertisingID: InlineBytes([UInt8](repeating: 3, count: 32))!, bucketID: 1_048_575),
            .init(identifier: "quote\"back\\slash/\u{1}é@x.org", advertisingID: InlineBytes([UInt8](repeating: 250, count: 33))!, bucketID: 0),
            // Negative: the general algorithm's empty text, after the prefix.
            .init(identifier: "b@example.com", advertisingID: InlineBytes([UInt8](repeating: 1, count: 32))!, bucketID: -5),
        ]
        result.unmapped = [.init(identifier: "null", reason: "invalid identifier"), .init(identifier: "tab\t@x.org", reason: "optout")]
        for variant in [result, { var onlyMapped = result; onlyMapped.unmapped = []; return onlyMapped }()] {
            let bucketIDs = PublicBucketIDEncoder(prefix: EncodedMapV2Body.bucketIDPrefix, secret: EncodedMapV2Body.bucketIDSecret)
            let written = try object(MapV2Body(result: variant, bucketIDs: bucketIDs).responseJSON())
            let encoded = try #require(
                try JSONSerialization.jsonObject(with: JSONCoding.encoder.encode(StatusResponse.success(EncodedMapV2Body(variant)))) as? NSDictionary
            )
            #expect(written == encoded)
            #expect(((written["body"] as? NSDictionary)?["unmapped"] == nil) == variant.unmapped.isEmpty)
        }
    }
}
