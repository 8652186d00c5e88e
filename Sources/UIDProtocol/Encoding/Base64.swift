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

    /// The tables live for the whole process and are read through plain pointers: global arrays
    /// were retained and released around every call, and the threads encoding at once (two
    /// base64 texts per mapped identity) contended for their reference counts.
    private static let standardTable = ProcessLifetimeTable(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8))
    private static let urlTable = ProcessLifetimeTable(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8))

    /// Both characters of every 12-bit value, the first in the low byte: the encoder reads one
    /// pair where it read two characters (8 KB a table, built on first use).
    private static let standardPairs = pairTable(standardTable)
    private static let urlPairs = pairTable(urlTable)

    private static func pairTable(_ table: ProcessLifetimeTable<UInt8>) -> ProcessLifetimeTable<UInt16> {
        ProcessLifetimeTable((0..<4096).map { UInt16(table[$0 >> 6]) | UInt16(table[$0 & 0x3F]) << 8 })
    }

    /// 0xFF marks a byte outside the alphabet.
    private static let standardReverse = reverseTable(standardTable)
    private static let urlReverse = reverseTable(urlTable)

    private static func reverseTable(_ table: ProcessLifetimeTable<UInt8>) -> ProcessLifetimeTable<UInt8> {
        var reverse = [UInt8](repeating: 0xFF, count: 256)
        for index in 0..<table.count { reverse[Int(table[index])] = UInt8(index) }
        return ProcessLifetimeTable(reverse)
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

    /// As above, for bytes read in place (an inline value, a view into storage).
    @discardableResult
    public static func encode(_ bytes: UnsafeRawBufferPointer, alphabet: Alphabet, into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        encode(contiguous: UnsafeBufferPointer(start: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), count: bytes.count), alphabet: alphabet, into: buffer)
    }

    private static func encode(contiguous bytes: UnsafeBufferPointer<UInt8>, alphabet: Alphabet, into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let table = (alphabet == .standard ? standardTable : urlTable).buffer
        let pairs = (alphabet == .standard ? standardPairs : urlPairs).buffer
        let padding = alphabet == .standard
        // Callers size `buffer` with `encodedLength`; a smaller one gets nothing rather than an overrun.
        guard buffer.count >= encodedLength(bytes.count, padding: padding) else { return 0 }
        var out = 0
        var index = 0
        let whole = bytes.count - bytes.count % 3
        if let output = UnsafeMutableRawPointer(buffer.baseAddress) {
            // Six bytes at a time while eight can be read: one 8-byte load, four pair lookups,
            // one 8-byte store.
            if let input = UnsafeRawPointer(bytes.baseAddress) {
                while bytes.count - index >= 8 {
                    let word = UInt64(bigEndian: input.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                    let first = UInt64(pairs[Int(truncatingIfNeeded: word >> 52)])
                        | UInt64(pairs[Int(truncatingIfNeeded: word >> 40) & 0xFFF]) << 16
                    let second = UInt64(pairs[Int(truncatingIfNeeded: word >> 28) & 0xFFF]) << 32
                        | UInt64(pairs[Int(truncatingIfNeeded: word >> 16) & 0xFFF]) << 48
                    output.storeBytes(of: (first | second).littleEndian, toByteOffset: out, as: UInt64.self)
                    index += 6
                    out += 8
                }
            }
            // Three bytes are 24 bits: two 12-bit pair lookups, stored as one 4-byte word.
            while index < whole {
                let group = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
                let characters = UInt32(pairs[Int(group >> 12)]) | UInt32(pairs[Int(group & 0xFFF)]) << 16
                output.storeBytes(of: characters.littleEndian, toByteOffset: out, as: UInt32.self)
                index += 3
                out += 4
            }
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
        let reverse = (alphabet == .standard ? standardReverse : urlReverse).buffer
        var accumulator: UInt32 = 0
        var pending = 0  // characters in the current 4-character unit
        var index = 0
        var written = 0
        // Whole groups of four alphabet characters (all but the last group or two) are decoded
        // a group at a time. The first group holding anything else ('=', a byte outside the
        // alphabet) is left to the loop below, which then starts at a group boundary exactly
        // as if it had read the groups before itself.
        while text.count - index >= 4 {
            let a = reverse[Int(text[index])], b = reverse[Int(text[index + 1])]
            let c = reverse[Int(text[index + 2])], d = reverse[Int(text[index + 3])]
            // Alphabet values are below 64; 0xFF (outside it) has the top bits set.
            guard (a | b | c | d) & 0xC0 == 0 else { break }
            let group = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
            output[written] = UInt8(truncatingIfNeeded: group >> 16)
            output[written + 1] = UInt8(truncatingIfNeeded: group >> 8)
            output[written + 2] = UInt8(truncatingIfNeeded: group)
            written += 3
            index += 4
        }
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
