import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDServer

/// The cheaper pieces of the request path answer exactly as the ones they replaced.
@Suite struct RequestPathTests {
    static let payloads: [String] = [
        "", "{}", #"{"email":"someone@example.com"}"#, #"{"email":null,"phone":"+12345678901"}"#,
        #"{"email":1,"email_hash":true,"phone":[],"phone_hash":{}}"#, #"{"email":"a\"b\\c\u00e9\n"}"#,
        #"{"tcf_consent_string":"CPx","email":"x@y.z","other":[1,{"a":2}]}"#,
        "[]", "\"text\"", "12", "null", "{", #"{"email":}"#, "not json", #"{"email":"\ud800"}"#, #"{"email":1e999}"#,
    ]

    @Test(arguments: payloads)
    func generatePayloadReadsAsTheDecoderReadsIt(_ text: String) {
        let data = Data(text.utf8)
        let fast = PayloadDecoding.decode(GeneratePayload.self, from: data).map { Self.fields($0.request) }
        let decoder = PayloadDecoding.decodedByDecoder(GeneratePayload.self, from: data, shapeError: nil).map { Self.fields($0.request) }
        #expect(fast == decoder)
    }

    @Test(arguments: payloads)
    func validatePayloadReadsAsTheDecoderReadsIt(_ text: String) {
        let data = Data(text.utf8)
        let fast = PayloadDecoding.decode(ValidatePayload.self, from: data).map { [$0.request.token] + Self.identity($0.request.identity) }
        let decoder = PayloadDecoding.decodedByDecoder(ValidatePayload.self, from: data, shapeError: nil)
            .map { [$0.request.token] + Self.identity($0.request.identity) }
        #expect(fast == decoder)
    }

    /// The one difference: a key given twice. `JSONDecoder` read the first; `JSONSerialization`
    /// keeps the last, as most JSON libraries do (RFC 8259 leaves it open).
    @Test func aRepeatedKeyReadsAsItsLastValue() {
        let data = Data(#"{"email":"first@example.com","email":"second@example.com"}"#.utf8)
        let fast = PayloadDecoding.decode(GeneratePayload.self, from: data).map(\.request.identity.email)
        #expect(fast == .success(.string("second@example.com")))
    }

    /// Binary framing is chosen by a byte-wise comparison now; it answers as `lowercased() ==` did.
    @Test(arguments: [
        "application/octet-stream", "Application/Octet-Stream", "APPLICATION/OCTET-STREAM", "application/octet-stream ",
        "application/octet-stream; charset=x", "text/plain", "", "application/octet-streaM", "application/octet_stream",
        "applicatİon/octet-stream", "application/octet-streamé",
    ])
    func binaryFramingMatchesTheLowercasedComparison(_ contentType: String) {
        var fields = HTTPFields()
        fields[.contentType] = contentType
        let request = Request(head: HTTPRequest(method: .post, scheme: "http", authority: "x", path: "/", headerFields: fields), body: .init(buffer: ByteBuffer()))
        // The old rule, on the value as the request holds it (HTTP fields drop surrounding spaces).
        #expect(UIDServer.RequestBody.isBinary(contentType: request.headers[.contentType]) == (request.headers[.contentType]?.lowercased() == "application/octet-stream"))
    }

    /// The one-pass header read gives each header as the `HTTPFields` subscript does: absent, one
    /// value, or several joined, whatever the name's letter case and whatever other fields sit between.
    @Test(arguments: [
        [(String, String)](),
        [("Authorization", "Bearer key"), ("Content-Length", "12"), ("Content-Type", "text/plain")],
        [("authorization", "Bearer a"), ("X-Other", "1"), ("AUTHORIZATION", "Bearer b")],
        [("Content-Length", "10"), ("content-length", "10"), ("Content-Type", "application/octet-stream")],
        [("Content-Type", "a"), ("Accept", "b"), ("content-type", "c"), ("Content-Type", "")],
        [("X-Request-Id", "r"), ("Origin", "https://example.com")],
    ])
    func headerScanReadsAsTheSubscript(_ pairs: [(String, String)]) throws {
        var fields = HTTPFields()
        for (name, value) in pairs {
            fields.append(HTTPField(name: try #require(HTTPField.Name(name)), value: value))
        }
        let scan = RequestHeaderScan(fields)
        #expect(scan.authorization == fields[.authorization])
        #expect(scan.contentLength == fields[.contentLength])
        #expect(scan.contentType == fields[.contentType])
    }

    /// The sealed answer goes into the response as base64 text, or as the raw box when binary.
    @Test func sealedAnswersAreWrittenAsTheirBase64OrRawBytes() throws {
        let secret = SymmetricKey(size: .bits256)
        let json = Array(#"{"status":"success"}"#.utf8)
        for size in [0, 1, 2, 3, 100] {
            let sealed = try #require(ResponseEnvelope.seal(json: json + Array(repeating: 0x20, count: size), nonce: Array(1...8), secret: secret, nowMillis: 7))
            let text = UIDServer.RequestBody.base64Buffer(sealed)
            #expect(String(buffer: text) == Base64.encode(sealed))
            let plain = try AESGCMBox.open(try #require(Base64.decode(String(buffer: text))), key: secret)
            #expect(Array(plain.dropFirst(16)) == json + Array(repeating: 0x20, count: size))
        }
        #expect(String(buffer: UIDServer.RequestBody.base64Buffer([])) == "")
    }

    static func fields(_ request: GenerateTokenRequest) -> [JSONField] {
        identity(request.identity) + [request.tcfConsentString]
    }

    static func identity(_ fields: IdentityFields) -> [JSONField] {
        [fields.email, fields.emailHash, fields.phone, fields.phoneHash]
    }

    @Test func generatedRequestIDsAreSixteenHexDigitsAndDistinct() {
        let ids = (0..<10_000).map { _ in RequestID.generate() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.utf8.count == 16 && $0.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) } })
        #expect(RequestID.hex(0x0123_4567_89AB_CDEF) == "0123456789abcdef")
        #expect(RequestID.hex(0) == "0000000000000000")
    }

    @Test func jsonLogLinesReadBackAsWritten() throws {
        let awkward = "quote \" backslash \\ newline \n tab \t bell \u{07} nul \u{00} slash / é 日本 🎉"
        var line = JSONLogLine(capacity: 16)
        line.object([
            "message": .string(awkward), "code": .stringConvertible(200),
            "nested": .dictionary(["list": .array([.string("a"), .string(awkward)]), "b": .string("")]),
        ])
        #expect(line.bytes.last == 0x0A)
        #expect(line.bytes.dropLast().allSatisfy { $0 != 0x0A })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.bytes)) as? [String: Any])
        #expect(object["message"] as? String == awkward)
        #expect(object["code"] as? String == "200")
        let nested = try #require(object["nested"] as? [String: Any])
        #expect(nested["list"] as? [String] == ["a", awkward])
        #expect(nested["b"] as? String == "")
        // Keys in sorted order, as the JSONSerialization-based handler wrote them.
        let text = String(decoding: line.bytes, as: UTF8.self)
        let positions = ["\"code\"", "\"message\"", "\"nested\""].compactMap { text.range(of: $0)?.lowerBound }
        #expect(positions.count == 3 && positions == positions.sorted())
    }

    @Test func jsonLogHandlerLinesCarryTimeLevelLoggerAndMessage() throws {
        let lines = LineCollector()
        let logger = Logger(label: "path") { label in JSONLogHandler(label: label, metadataProvider: nil, write: lines.append) }
        logger.info("hello \"there\"", metadata: ["site_id": .stringConvertible(7)])
        let entry = try #require(try JSONSerialization.jsonObject(with: Data((lines.lines.first ?? "").utf8)) as? [String: Any])
        #expect(entry["message"] as? String == "hello \"there\"")
        #expect(entry["level"] as? String == "info")
        #expect(entry["logger"] as? String == "path")
        #expect(entry["site_id"] as? String == "7")
        let time = try #require(entry["time"] as? String)
        #expect(try #require(ISO8601DateFormatter.withFractionalSeconds.date(from: time)).timeIntervalSinceNow.magnitude < 60)
    }

    @Test func deferredMetadataWritesWhatTheStreamHandlerWrites() {
        let provider = Logger.MetadataProvider { ["request_id": "r-1", "shared": "provider"] }
        let direct = TextCollector()
        let deferred = TextCollector()
        var plain = Logger(label: "x") { StreamLogHandler(label: $0, stream: direct, metadataProvider: provider) }
        var wrapped = Logger(label: "x") { DeferredMetadataLogHandler(StreamLogHandler(label: $0, stream: deferred, metadataProvider: provider)) }
        plain[metadataKey: "hb.request.id"] = "7"
        plain[metadataKey: "shared"] = "own"
        wrapped[metadataKey: "hb.request.id"] = "7"
        wrapped[metadataKey: "shared"] = "own"
        plain.info("one", metadata: ["n": "1"])
        wrapped.info("one", metadata: ["n": "1"])
        plain.warning("two")
        wrapped.warning("two")
        plain.logLevel = .error
        wrapped.logLevel = .error
        plain.info("not written")
        wrapped.info("not written")
        #expect(Self.withoutTimestamps(direct.text) == Self.withoutTimestamps(deferred.text))
        #expect(deferred.text.contains("request_id=r-1") && deferred.text.contains("shared=provider") && !deferred.text.contains("not written"))
    }

    /// StreamLogHandler's lines start with a timestamp; the rest must match.
    static func withoutTimestamps(_ text: String) -> [Substring] {
        text.split(separator: "\n").map { line in line.drop { $0 != " " } }
    }

    @Test func connectionStatusKeepsPhaseServedAndTime() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        let status = ConnectionStatus(since: start)
        #expect(status.snapshot == .init(phase: .idle, since: start, served: false))
        let later = start + .milliseconds(5)
        for phase in [ConnectionRegistry.Phase.readingHead, .readingBody, .responding, .idle] {
            status.publish(phase: phase, since: later, served: false)
            #expect(status.snapshot == .init(phase: phase, since: later, served: false))
        }
        status.publish(phase: .idle, since: later, served: true)
        // Once served, always served.
        status.publish(phase: .readingHead, since: later, served: false)
        #expect(status.snapshot == .init(phase: .readingHead, since: later, served: true))
    }
}

final class TextCollector: TextOutputStream, Sendable {
    private let storage = Mutex("")
    var text: String { storage.withLock { $0 } }
    func write(_ string: String) { storage.withLock { $0 += string } }
}

extension ISO8601DateFormatter {
    static var withFractionalSeconds: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
