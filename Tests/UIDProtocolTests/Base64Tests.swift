import Testing
@testable import UIDProtocol

@Suite struct Base64Tests {
    @Test func roundTripsEveryLengthInBothAlphabets() {
        for length in 0..<70 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
            #expect(Base64.decode(Base64.encode(bytes, alphabet: .url), alphabet: .url) == bytes)
        }
    }

    @Test func matchesRFC4648() {
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.encode(Array("fooba".utf8)) == "Zm9vYmE=")
        #expect(Base64.encode(Array("foob".utf8)) == "Zm9vYg==")
        #expect(Base64.encode([0xFB, 0xFF], alphabet: .url) == "-_8")
        #expect(Base64.encode([0xFB, 0xFF]) == "+/8=")
    }

    @Test func followsJavaDecoderRules() {
        #expect(Base64.decode("Zm9vYg") == Array("foob".utf8), "padding is optional")
        #expect(Base64.decode("Zm9vYh==") == Array("foob".utf8), "non-zero trailing bits are tolerated")
        #expect(Base64.decode("Zm9vY") == nil, "a lone trailing character is invalid")
        #expect(Base64.decode("Zm9v\nYmFy") == nil, "no whitespace")
        #expect(Base64.decode("Zm9vYg=") == nil, "half padding")
        #expect(Base64.decode("Zm9vYg==Zm9v") == nil, "nothing after padding")
        #expect(Base64.decode("=Zm9") == nil)
        #expect(Base64.decode("-_8") == nil, "standard decoder rejects the URL alphabet")
        #expect(Base64.decode("+/8", alphabet: .url) == nil, "URL decoder rejects the standard alphabet")
        #expect(Base64.decode("") == [])
    }

    @Test func decodingIntoABufferRefusesOneTooSmallAndWritesTheDecodedLength() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 91 &+ 7) }
            let text = Array(Base64.encode(bytes).utf8)
            let capacity = Base64.decodedCapacity(text.count)
            text.withUnsafeBufferPointer { text in
                var output = [UInt8](repeating: 0xAA, count: capacity + 1)
                output.withUnsafeMutableBufferPointer { whole in
                    let short = UnsafeMutableBufferPointer(rebasing: whole[0..<(capacity - 1)])
                    #expect(Base64.decode(utf8: text, alphabet: .standard, into: short) == nil)
                    let exact = UnsafeMutableBufferPointer(rebasing: whole[0..<capacity])
                    #expect(Base64.decode(utf8: text, alphabet: .standard, into: exact) == length)
                }
                #expect(Array(output[0..<length]) == bytes)
                #expect(output[capacity] == 0xAA, "nothing is written past the buffer")
            }
        }
    }
}
