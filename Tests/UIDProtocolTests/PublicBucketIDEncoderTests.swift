import Testing
@_spi(Differential) @testable import UIDProtocol

@Suite struct PublicBucketIDEncoderTests {
    /// The fixture's bucket ids (docs/TEST-VECTORS.md#bucket-ids), as a string and as the bytes
    /// identity map v2 writes.
    @Test func fixtureBucketIDs() {
        let encoder = PublicBucketIDEncoder(prefix: "b", secret: HashidsTests.fixtureSecret)
        let expected: [(Int64, String)] = [
            (1_000_000, "bKaoveQoPR"), (1_000_001, "b1aZVGl7aB"), (1_000_002, "bv3WM92zaA"),
            (1_000_003, "bl5yy6kr58"), (1_000_004, "be58Mjz13q"),
        ]
        for (bucketID, publicID) in expected {
            #expect(encoder.encode(bucketID) == publicID)
            var written: [UInt8] = []
            encoder.withUTF8(bucketID) { written = Array($0) }
            #expect(written == Array(publicID.utf8))
        }
    }

    /// Every bucket number, and numbers the tables leave to the general algorithm (negative ones),
    /// give the prefix followed by the general algorithm's text, whatever the prefix holds.
    @Test(arguments: ["b", "", "prefix with ñ and \"quotes\"", String(repeating: "p", count: 300)])
    func matchesThePrefixAndTheGeneralAlgorithm(prefix: String) {
        let encoder = PublicBucketIDEncoder(prefix: prefix, secret: HashidsTests.fixtureSecret)
        let hashids = Hashids(salt: HashidsTests.fixtureSecret, minLength: 9)
        var workspace = Hashids.Workspace()
        let numbers = Array(Int64(0)..<2_000) + Array(stride(from: Int64(2_000), to: 1_048_576, by: 331)) + [Int64.max, -1, Int64.min]
        var mismatches: [Int64] = []
        for number in numbers {
            let expected = prefix + hashids.encodeInGeneral(number, using: &workspace)
            var written = ""
            encoder.withUTF8(number) { written = String(decoding: $0, as: UTF8.self) }
            if encoder.encode(number) != expected || written != expected {
                mismatches.append(number)
            }
        }
        #expect(mismatches.isEmpty, "first differing numbers: \(mismatches.prefix(5))")
        #expect(encoder.encode(-1) == prefix)
    }
}
