import Testing
@testable import UIDProtocol

/// `Base64` encodes three bytes with two pair-table reads and decodes whole groups of four
/// characters at a time; these compare it with the character-at-a-time algorithm it replaced
/// (`ReferenceBase64`, kept here) over many lengths, both alphabets and malformed text.
@Suite struct Base64ReferenceTests {
    @Test func encodingMatchesTheReferenceForEveryLengthUpTo700() {
        var generator = SplitMix(seed: 7)
        for length in 0...700 {
            let bytes = (0..<length).map { _ in generator.nextByte() }
            #expect(Base64.encode(bytes) == ReferenceBase64.encode(bytes, alphabet: .standard), "length \(length)")
            #expect(Base64.encode(bytes, alphabet: .url) == ReferenceBase64.encode(bytes, alphabet: .url), "url, length \(length)")
        }
    }

    @Test func everyThreeByteGroupEncodesAsTheReferenceDoes() {
        // All 2^24 groups would take long in a debug build: every first byte with a spread of the rest.
        for first in 0...255 {
            for second in stride(from: 0, through: 255, by: 17) {
                for third in [0, 1, 63, 64, 127, 128, 191, 255] {
                    let bytes: [UInt8] = [UInt8(first), UInt8(second), UInt8(third)]
                    #expect(Base64.encode(bytes) == ReferenceBase64.encode(bytes, alphabet: .standard))
                    #expect(Base64.encode(bytes, alphabet: .url) == ReferenceBase64.encode(bytes, alphabet: .url))
                }
            }
        }
    }

    @Test func decodingMatchesTheReferenceOnValidText() {
        var generator = SplitMix(seed: 11)
        for length in 0...400 {
            let bytes = (0..<length).map { _ in generator.nextByte() }
            for alphabet in [Base64.Alphabet.standard, .url] {
                let text = ReferenceBase64.encode(bytes, alphabet: alphabet)
                #expect(Base64.decode(text, alphabet: alphabet) == bytes)
                // Without the padding, as Java's decoder also accepts.
                let unpadded = String(text.prefix { $0 != "=" })
                #expect(Base64.decode(unpadded, alphabet: alphabet) == ReferenceBase64.decode(Array(unpadded.utf8), alphabet: alphabet))
            }
        }
    }

    @Test func decodingMatchesTheReferenceOnMalformedText() {
        var generator = SplitMix(seed: 13)
        let strange: [UInt8] = [UInt8(ascii: "="), UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                                UInt8(ascii: "+"), UInt8(ascii: "/"), 0, 0x7F, 0x80, 0xC3, 0xFF, UInt8(ascii: "A")]
        for length in 0..<48 {
            let bytes = (0..<length).map { _ in generator.nextByte() }
            let valid = Array(ReferenceBase64.encode(bytes, alphabet: .standard).utf8)
            // One byte replaced, inserted or removed at every position.
            for position in 0...valid.count {
                for byte in strange {
                    var inserted = valid
                    inserted.insert(byte, at: position)
                    compare(inserted)
                    if position < valid.count {
                        var replaced = valid
                        replaced[position] = byte
                        compare(replaced)
                    }
                }
                if position < valid.count {
                    var removed = valid
                    removed.remove(at: position)
                    compare(removed)
                }
            }
        }
        // Random bytes drawn mostly from the alphabet.
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_".utf8)
        for _ in 0..<20_000 {
            let length = Int(generator.nextByte() % 24)
            compare((0..<length).map { _ in
                let pick = generator.nextByte()
                return pick < 240 ? alphabet[Int(pick) % alphabet.count] : strange[Int(pick) % strange.count]
            })
        }
    }

    private func compare(_ text: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        for alphabet in [Base64.Alphabet.standard, .url] {
            let fast = text.withUnsafeBufferPointer { Base64.decode(utf8: $0, alphabet: alphabet) }
            #expect(fast == ReferenceBase64.decode(text, alphabet: alphabet), "\(text)", sourceLocation: sourceLocation)
        }
    }
}

/// The encoder and decoder as they were before the fast paths: one character at a time.
private enum ReferenceBase64 {
    static func table(_ alphabet: Base64.Alphabet) -> [UInt8] {
        Array((alphabet == .standard
            ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
            : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_").utf8)
    }

    static let standardReverse = reverse(.standard)
    static let urlReverse = reverse(.url)

    static func reverse(_ alphabet: Base64.Alphabet) -> [UInt8] {
        var reverse = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in table(alphabet).enumerated() { reverse[Int(byte)] = UInt8(index) }
        return reverse
    }

    static func encode(_ bytes: [UInt8], alphabet: Base64.Alphabet) -> String {
        let table = table(alphabet)
        var out = [UInt8]()
        var index = 0
        let whole = bytes.count - bytes.count % 3
        while index < whole {
            let b0 = bytes[index], b1 = bytes[index + 1], b2 = bytes[index + 2]
            out += [table[Int(b0 >> 2)], table[Int((b0 & 0x03) << 4 | b1 >> 4)], table[Int((b1 & 0x0F) << 2 | b2 >> 6)], table[Int(b2 & 0x3F)]]
            index += 3
        }
        switch bytes.count - whole {
        case 1:
            let b0 = bytes[index]
            out += [table[Int(b0 >> 2)], table[Int((b0 & 0x03) << 4)]]
            if alphabet == .standard { out += Array("==".utf8) }
        case 2:
            let b0 = bytes[index], b1 = bytes[index + 1]
            out += [table[Int(b0 >> 2)], table[Int((b0 & 0x03) << 4 | b1 >> 4)], table[Int((b1 & 0x0F) << 2)]]
            if alphabet == .standard { out += Array("=".utf8) }
        default:
            break
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: [UInt8], alphabet: Base64.Alphabet) -> [UInt8]? {
        let reverse = alphabet == .standard ? standardReverse : urlReverse
        var accumulator: UInt32 = 0
        var pending = 0
        var index = 0
        var output = [UInt8]()
        while index < text.count {
            let char = text[index]
            index += 1
            if char == UInt8(ascii: "=") {
                switch pending {
                case 2:
                    guard index < text.count, text[index] == UInt8(ascii: "=") else { return nil }
                    index += 1
                case 3:
                    break
                default:
                    return nil
                }
                guard index == text.count else { return nil }
                break
            }
            let value = reverse[Int(char)]
            guard value != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            pending += 1
            if pending == 4 {
                output += [UInt8(truncatingIfNeeded: accumulator >> 16), UInt8(truncatingIfNeeded: accumulator >> 8), UInt8(truncatingIfNeeded: accumulator)]
                accumulator = 0
                pending = 0
            }
        }
        switch pending {
        case 0: break
        case 2: output.append(UInt8(truncatingIfNeeded: accumulator >> 4))
        case 3: output += [UInt8(truncatingIfNeeded: accumulator >> 10), UInt8(truncatingIfNeeded: accumulator >> 2)]
        default: return nil
        }
        return output
    }
}

/// A small deterministic generator, so a failure repeats.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func nextByte() -> UInt8 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return UInt8(truncatingIfNeeded: z ^ (z >> 31))
    }
}
