/// Base64 as the reference operator speaks it, on bytes rather than `String` search/replace.
///
/// Encoding is RFC 4648 (standard alphabet with padding, or URL-safe without padding for V4
/// advertising tokens). Decoding follows Java's `Base64.getDecoder()`/`getUrlDecoder()`: one
/// alphabet only, no whitespace, padding optional but correct when present, and non-zero
/// trailing bits tolerated (one fixture key secret depends on that).
public enum Base64 {
    public enum Alphabet: Sendable {
        case standard
        case url
    }

    private static let standardTable: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlTable: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// 0xFF marks a byte outside the alphabet.
    private static let standardReverse: [UInt8] = reverseTable(standardTable)
    private static let urlReverse: [UInt8] = reverseTable(urlTable)

    private static func reverseTable(_ table: [UInt8]) -> [UInt8] {
        var reverse = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in table.enumerated() { reverse[Int(byte)] = UInt8(index) }
        return reverse
    }

    /// Number of characters `encode` produces for `count` bytes.
    @inlinable
    public static func encodedLength(_ count: Int, padding: Bool) -> Int {
        padding ? (count + 2) / 3 * 4 : (count * 4 + 2) / 3
    }

    public static func encode<Bytes: Collection>(_ bytes: Bytes, alphabet: Alphabet = .standard) -> String where Bytes.Element == UInt8 {
        let padding = alphabet == .standard
        let length = encodedLength(bytes.count, padding: padding)
        if length == 0 { return "" }
        return String(unsafeUninitializedCapacity: length) { buffer in
            encode(bytes, alphabet: alphabet, into: buffer)
        }
    }

    /// Encodes into `buffer`, which must hold `encodedLength(bytes.count, padding:)` bytes; returns
    /// the number written. Lets callers build larger outputs without intermediate strings.
    @discardableResult
    public static func encode<Bytes: Collection>(_ bytes: Bytes, alphabet: Alphabet, into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int where Bytes.Element == UInt8 {
        // Generic collections are walked through witness calls byte by byte; contiguous bytes
        // (every caller's) go through the pointer loop instead, about 20 times faster.
        if let written = bytes.withContiguousStorageIfAvailable({ encode(contiguous: $0, alphabet: alphabet, into: buffer) }) {
            return written
        }
        return Array(bytes).withUnsafeBufferPointer { encode(contiguous: $0, alphabet: alphabet, into: buffer) }
    }

    private static func encode(contiguous bytes: UnsafeBufferPointer<UInt8>, alphabet: Alphabet, into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let table = alphabet == .standard ? standardTable : urlTable
        let padding = alphabet == .standard
        return table.withUnsafeBufferPointer { table in
            var out = 0
            var index = 0
            let whole = bytes.count - bytes.count % 3
            while index < whole {
                let b0 = bytes[index], b1 = bytes[index + 1], b2 = bytes[index + 2]
                buffer[out] = table[Int(b0 >> 2)]
                buffer[out + 1] = table[Int((b0 & 0x03) << 4 | b1 >> 4)]
                buffer[out + 2] = table[Int((b1 & 0x0F) << 2 | b2 >> 6)]
                buffer[out + 3] = table[Int(b2 & 0x3F)]
                index += 3
                out += 4
            }
            switch bytes.count - whole {
            case 1:
                let b0 = bytes[index]
                buffer[out] = table[Int(b0 >> 2)]
                buffer[out + 1] = table[Int((b0 & 0x03) << 4)]
                out += 2
                if padding {
                    buffer[out] = UInt8(ascii: "=")
                    buffer[out + 1] = UInt8(ascii: "=")
                    out += 2
                }
            case 2:
                let b0 = bytes[index], b1 = bytes[index + 1]
                buffer[out] = table[Int(b0 >> 2)]
                buffer[out + 1] = table[Int((b0 & 0x03) << 4 | b1 >> 4)]
                buffer[out + 2] = table[Int((b1 & 0x0F) << 2)]
                out += 3
                if padding {
                    buffer[out] = UInt8(ascii: "=")
                    out += 1
                }
            default:
                break
            }
            return out
        }
    }

    public static func decode(_ text: some StringProtocol, alphabet: Alphabet = .standard) -> [UInt8]? {
        var text = String(text)
        return text.withUTF8 { decode(utf8: $0, alphabet: alphabet) }
    }

    /// Decodes base64 text given as UTF-8 bytes, or returns nil where Java's decoder would throw.
    public static func decode(utf8 text: UnsafeBufferPointer<UInt8>, alphabet: Alphabet = .standard) -> [UInt8]? {
        // Written in place into an array of the largest possible size (no append per byte: a
        // 5,000-email request body is 300 KB of base64).
        let capacity = decodedCapacity(text.count)
        var valid = true
        let output = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            if let written = decode(utf8: text, alphabet: alphabet, into: buffer) {
                initialized = written
            } else {
                valid = false
                initialized = 0
            }
        }
        return valid ? output : nil
    }

    /// Bytes `decode` writes at most for `count` characters.
    @inlinable
    public static func decodedCapacity(_ count: Int) -> Int {
        count / 4 * 3 + 2
    }

    /// Decodes into `output` (at least `decodedCapacity(text.count)` bytes; less is refused, never
    /// overrun): the number of bytes written, or nil where Java's decoder would throw.
    public static func decode(utf8 text: UnsafeBufferPointer<UInt8>, alphabet: Alphabet, into output: UnsafeMutableBufferPointer<UInt8>) -> Int? {
        guard output.count >= decodedCapacity(text.count) else { return nil }
        let reverse = alphabet == .standard ? standardReverse : urlReverse
        var accumulator: UInt32 = 0
        var pending = 0  // characters in the current 4-character unit
        var index = 0
        var written = 0
        return reverse.withUnsafeBufferPointer { reverse -> Int? in
            while index < text.count {
                let char = text[index]
                index += 1
                if char == UInt8(ascii: "=") {
                    // "xx==" or "xxx=" only; nothing may follow the padding.
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
                    // Every 4 characters read make 3 bytes, so `written` stays within the capacity.
                    output[written] = UInt8(truncatingIfNeeded: accumulator >> 16)
                    output[written + 1] = UInt8(truncatingIfNeeded: accumulator >> 8)
                    output[written + 2] = UInt8(truncatingIfNeeded: accumulator)
                    written += 3
                    accumulator = 0
                    pending = 0
                }
            }
            switch pending {
            case 0:
                break
            case 2:
                output[written] = UInt8(truncatingIfNeeded: accumulator >> 4)
                written += 1
            case 3:
                output[written] = UInt8(truncatingIfNeeded: accumulator >> 10)
                output[written + 1] = UInt8(truncatingIfNeeded: accumulator >> 2)
                written += 2
            default:
                return nil
            }
            return written
        }
    }
}
