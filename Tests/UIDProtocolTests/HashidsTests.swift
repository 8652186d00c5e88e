import Testing
@_spi(Differential) @testable import UIDProtocol

@Suite struct HashidsTests {
    static let fixtureSecret = "HF6Qz42HBbVHINxhh191dB09BCuTWyBkNtrNicO4ZCw="

    /// Fixture bucket ids (docs/TEST-VECTORS.md#bucket-ids): `id_prefix` "b" + Hashids(id_secret, minLength 9),
    /// computed with org.hashids 1.0.3 and identical with Python `hashids` 1.3.1.
    @Test(arguments: [
        (Int64(1_000_000), "bKaoveQoPR"),
        (Int64(1_000_001), "b1aZVGl7aB"),
        (Int64(1_000_002), "bv3WM92zaA"),
        (Int64(1_000_003), "bl5yy6kr58"),
        (Int64(1_000_004), "be58Mjz13q"),
    ])
    func fixtureBucketIDs(bucketID: Int64, expected: String) {
        let hashids = Hashids(salt: Self.fixtureSecret, minLength: 9)
        #expect("b" + hashids.encode([bucketID]) == expected)
    }

    struct Vector: Sendable, CustomTestStringConvertible {
        let salt: String
        let minLength: Int
        let numbers: [Int64]
        let expected: String
        var testDescription: String { "salt=\(salt.debugDescription) minLength=\(minLength) \(numbers)" }
    }

    /// Generated with the Python package `hashids` 1.3.1:
    /// `Hashids(salt=salt, min_length=minLength).encode(*numbers)` (default alphabet).
    static let pythonVectors: [Vector] = [
        Vector(salt: "", minLength: 0, numbers: [0], expected: "gY"),
        Vector(salt: "", minLength: 0, numbers: [1], expected: "jR"),
        Vector(salt: "", minLength: 0, numbers: [12345], expected: "j0gW"),
        Vector(salt: "", minLength: 8, numbers: [1], expected: "olejRejN"),
        Vector(salt: "", minLength: 0, numbers: [1, 2, 3], expected: "o2fXhV"),
        Vector(salt: "this is my salt", minLength: 0, numbers: [12345], expected: "NkK9"),
        Vector(salt: "this is my salt", minLength: 0, numbers: [1, 2, 3], expected: "laHquq"),
        Vector(salt: "this is my salt", minLength: 8, numbers: [1], expected: "gB0NV05e"),
        Vector(salt: "this is my salt", minLength: 20, numbers: [1], expected: "9aJEDngB0NV05ev1WwPN"),
        Vector(salt: "this is my salt", minLength: 32, numbers: [123, 456], expected: "Pl8eyjMOgqxZAqr6s4mdE6NQmobJ1LaD"),
        Vector(salt: "this is my salt", minLength: 0, numbers: [9_007_199_254_740_992], expected: "262mm1m4J9Z"),
        Vector(salt: "this is my salt", minLength: 0, numbers: [Int64.max], expected: "jvNx4BjM5KYjv"),
        Vector(salt: fixtureSecret, minLength: 9, numbers: [0], expected: "yLKaod5RD"),
        Vector(salt: fixtureSecret, minLength: 9, numbers: [1_048_575], expected: "ka0r2EG3X"),
        Vector(salt: fixtureSecret, minLength: 9, numbers: [123_456_789_012], expected: "aKv7O6q9L"),
        Vector(salt: fixtureSecret, minLength: 0, numbers: [1_000_000], expected: "oveQo"),
        Vector(salt: fixtureSecret, minLength: 50, numbers: [1_000_000],
               expected: "dvYJnrkepA1Nq26wx48yLKaoveQoPRDbGE0VgXoBjmzO9WlQZM"),
        Vector(salt: "abc", minLength: 100, numbers: [5, 6, 7, 8],
               expected: "PwOLJeq56D0o3MWXBZrERylaBNvYl7JZdmQP8Aqr5MwKk98YH2c5tjpyVg2GRzenj6L0E3xXo1WODAP18ad2jKzmYgknNxVQ7GvR"),
        Vector(salt: "salt with ñ and ü", minLength: 10, numbers: [42], expected: "KyemWLRM0X"),
        Vector(salt: "a", minLength: 0, numbers: [0, 0, 0, 0, 0], expected: "08hOh4hzh4"),
        Vector(salt: String(repeating: "x", count: 80), minLength: 12, numbers: [99, 1, 0], expected: "embVGPh5CE7R"),
        Vector(salt: "/+=09", minLength: 1, numbers: [7], expected: "bk"),
    ]

    @Test(arguments: pythonVectors)
    func matchesPythonHashids(vector: Vector) {
        #expect(Hashids(salt: vector.salt, minLength: vector.minLength).encode(vector.numbers) == vector.expected)
    }

    /// One number is encoded from alphabets shuffled in `init` (`encodeSingle`); the general
    /// algorithm must give the same text for every salt, length and number, and the tables must be
    /// what answers the bucket ids of identity map (minimum length 9, ids up to 2^20 - 1).
    @Test(arguments: [
        (fixtureSecret, 9), (fixtureSecret, 0), (fixtureSecret, 1), (fixtureSecret, 20), (fixtureSecret, 57), (fixtureSecret, 120),
        ("", 0), ("", 8), ("this is my salt", 9), ("salt with ñ and ü", 10), (String(repeating: "x", count: 80), 12), ("/+=09", 9),
    ])
    func singleNumbersMatchTheGeneralAlgorithm(salt: String, minLength: Int) {
        let hashids = Hashids(salt: salt, minLength: minLength)
        let edges: [Int64] = [0, 1, 2, 99, 100, 101, 1_048_575, 1_048_576, 4_294_967_294, 4_294_967_295, 4_294_967_296, 9_007_199_254_740_992, Int64.max - 1, Int64.max, -1, Int64.min]
        // Spread over the 32-bit range too: digits of numbers that fit in 32 bits are found by a
        // multiplication instead of a division.
        let spread = (0..<2_000).map { Int64($0) &* 2_147_483_647 % 4_294_967_296 }
        let numbers = Array(0..<3_000) + Array(stride(from: 3_000, to: 1_048_576, by: 197)) + Array(1_045_576..<1_048_576) + spread + edges
        var single = Hashids.Workspace()
        var general = Hashids.Workspace()
        var fromTables = 0
        var mismatches: [Int64] = []
        for number in numbers {
            let expected = hashids.encodeInGeneral(number, using: &general)
            if let encoded = hashids.encodeSingle(number) {
                fromTables += 1
                if encoded != expected { mismatches.append(number) }
            }
            if hashids.encode(number, using: &single) != expected || hashids.encode([number]) != expected { mismatches.append(number) }
        }
        #expect(mismatches.isEmpty, "first differing numbers: \(mismatches.prefix(5))")
        if minLength <= 9 {
            #expect(fromTables == numbers.count - 2, "every non-negative number comes from the tables")
        }
        if salt == Self.fixtureSecret && minLength == 9 {
            #expect(hashids.encodeSingle(0) == "yLKaod5RD")
            #expect(hashids.encodeSingle(1_048_575) == "ka0r2EG3X")
        }
    }

    @Test func rejectsNegativeAndEmptyInput() {
        let hashids = Hashids(salt: Self.fixtureSecret, minLength: 9)
        #expect(hashids.encode([]) == "")
        #expect(hashids.encode([-1]) == "")
        #expect(hashids.encode([1, -1]) == "")
    }

    @Test func respectsMinLengthAndIsDeterministic() {
        let hashids = Hashids(salt: Self.fixtureSecret, minLength: 9)
        var seen = Set<String>()
        for n in Int64(0)..<2_000 {
            let encoded = hashids.encode([n])
            #expect(encoded.count >= 9)
            #expect(encoded == hashids.encode([n]))
            seen.insert(encoded)
        }
        #expect(seen.count == 2_000, "distinct numbers encode differently")
        // A negative minLength behaves like 0.
        #expect(Hashids(salt: "this is my salt", minLength: -5).encode([12345]) == "NkK9")
    }
}
