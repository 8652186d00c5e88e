import Crypto
import Foundation
import Testing
@testable import UIDOperatorCore
import UIDProtocol
@testable import UIDServer

/// Map answers are written straight into the response envelope (`Outcome.jsonWriter`); the
/// opened envelope must hold exactly the bytes `responseJSON()` writes on its own.
@Suite struct SealedMapAnswerTests {
    static var plainKey: SymmetricKey { SymmetricKey(data: [UInt8](repeating: 0x5C, count: 32)) }
    static let nonce: [UInt8] = [8, 7, 6, 5, 4, 3, 2, 1]
    static let now: Int64 = 1_764_547_200_123

    /// The envelope's plaintext after the timestamp and nonce.
    func sealedJSON(capacity: Int, _ write: (inout ResponseJSON) -> Void) throws -> [UInt8] {
        let key = try #require(AESGCMKey(Self.plainKey))
        let sealed = try #require(ResponseEnvelope.seal(nonce: Self.nonce, secret: key, nowMillis: Self.now, jsonCapacity: capacity) {
            ResponseJSON.append(to: &$0, write)
        })
        let opened = Array(try AESGCMBox.open(sealed, key: Self.plainKey))
        var header = [UInt8]()
        header.appendBigEndian(Self.now)
        #expect(Array(opened.prefix(16)) == header + Self.nonce)
        return Array(opened.dropFirst(16))
    }

    @Test func sealingWithAWriterOpensAsSealingTheBytes() throws {
        let key = try #require(AESGCMKey(Self.plainKey))
        for json in [[UInt8](), Array(#"{"status":"success"}"#.utf8), [UInt8](repeating: 0x41, count: 70_000)] {
            let viaBytes = try #require(ResponseEnvelope.seal(json: json, nonce: Self.nonce, secret: key, nowMillis: Self.now))
            let viaWriter = try #require(ResponseEnvelope.seal(nonce: Self.nonce, secret: key, nowMillis: Self.now, jsonCapacity: 3) { $0.append(contentsOf: json) })
            #expect(try Array(AESGCMBox.open(viaBytes, key: Self.plainKey)) == Array(AESGCMBox.open(viaWriter, key: Self.plainKey)))
            // Any capacity guess, even a nonsensical one, gives the same box contents.
            for capacity in [-5, 0, Int.max] {
                let guessed = try #require(ResponseEnvelope.seal(nonce: Self.nonce, secret: key, nowMillis: Self.now, jsonCapacity: capacity) { $0.append(contentsOf: json) })
                #expect(try Array(AESGCMBox.open(guessed, key: Self.plainKey)) == Array(AESGCMBox.open(viaBytes, key: Self.plainKey)))
            }
        }
    }

    @Test func mapV3AnswerInTheEnvelopeIsTheAnswerWrittenAlone() throws {
        var generator = SystemRandomNumberGenerator()
        func uid(_ count: Int) -> InlineBytes { InlineBytes((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })! }
        let outcomes: [MappedIdentity] = (0..<2_000).map { index in
            switch index % 5 {
            case 0: .optOut
            case 1: .invalidIdentifier
            case 2: .mapped(current: uid(33), previous: nil, refreshFromMillis: Int64(index) * 86_400_123, bucketID: Int64(index))
            default: .mapped(current: uid(33), previous: uid(33), refreshFromMillis: 1_700_000_000_000 + Int64(index), bucketID: 7)
            }
        }
        let cases: [[IdentityInputKind: [MappedIdentity]]] = [
            [:],
            [.email: []],
            [.email: outcomes],
            [.email: Array(outcomes.prefix(3)), .phoneHash: Array(outcomes.suffix(700)), .phone: [.optOut], .emailHash: []],
        ]
        for results in cases {
            let body = MapV3Body(results: results)
            // A capacity too small for the answer only costs a reallocation.
            for capacity in [body.capacity, 0] {
                #expect(try sealedJSON(capacity: capacity) { body.write(into: &$0) } == body.responseJSON())
            }
        }
    }

    @Test func mapV2AnswerInTheEnvelopeIsTheAnswerWrittenAlone() throws {
        let identifiers = [
            "a@example.com", "", "quote\"back\\slash/@x.org", "tab\t\u{1}\u{1F}@x.org", "ünïcödé@exämple.com", "😀@x.org",
            "+12345678901", "  spaced  @example.com", String(repeating: "long", count: 300) + "@example.com", "\u{7F}del@x.org",
            "eVvLS/Vg+YZ6+z3i0NOpSXYyQAfEXqCZ7BTpAjFUBUc=", "null", "<script>@x.org", "line\u{2028}sep@x.org",
        ]
        var result = IdentityMapV2Result()
        result.kind = .email
        for (index, identifier) in identifiers.enumerated() {
            result.mapped.append(.init(identifier: identifier, advertisingID: InlineBytes([UInt8](repeating: UInt8(index), count: 32 + index % 2))!, bucketID: Int64(index) * 100_003))
            result.unmapped.append(.init(identifier: identifier, reason: index % 2 == 0 ? "optout" : "invalid identifier"))
        }
        var onlyMapped = result
        onlyMapped.unmapped = []
        for variant in [IdentityMapV2Result(), result, onlyMapped] {
            let body = MapV2Body(result: variant, bucketIDs: PublicBucketIDEncoder(prefix: "ad1", secret: "c2VjcmV0"))
            for capacity in [body.capacity, 0] {
                #expect(try sealedJSON(capacity: capacity) { body.write(into: &$0) } == body.responseJSON())
            }
        }
    }
}
