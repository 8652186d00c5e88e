import Foundation
import UIDProtocol

/// The answers of the busiest endpoints (token generate and refresh, identity map v3), written
/// straight into bytes. Foundation's `JSONEncoder` first builds a tree of boxed values and cost more
/// than the cryptography of a request (docs/PERFORMANCE.md has the profiles).
///
/// This is not a JSON codec: the keys are our own literals and the values are integers, `null`, or
/// text that needs no escaping (base64, fixed words). Any other text is escaped by `JSONEncoder`.
struct ResponseJSON {
    private(set) var bytes: [UInt8]

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Lets `write` append JSON to `bytes` itself (the plaintext of a response envelope), with no
    /// copy: the array is moved into the writer and back.
    static func append(to bytes: inout [UInt8], _ write: (inout ResponseJSON) -> Void) {
        var json = ResponseJSON(capacity: 0)
        swap(&json.bytes, &bytes)
        write(&json)
        swap(&json.bytes, &bytes)
    }

    mutating func literal(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { string(utf8: $0) }
    }

    /// UTF-8 text as a JSON string (a public bucket id is built on the stack, not as a `String`).
    mutating func string(utf8: UnsafeBufferPointer<UInt8>) {
        guard Self.needsNoEscaping(utf8) else {
            let text = String(decoding: utf8, as: UTF8.self)
            bytes.append(contentsOf: (try? JSONCoding.encoder.encode(text)) ?? Data("null".utf8))
            return
        }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: utf8)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Whether every byte is printable ASCII other than the quote and the backslash, so the text goes into JSON as it
    /// is. No early exit: the loop is a reduction the compiler vectorises (a generate answer's three
    /// tokens are about 600 bytes; the byte-by-byte `allSatisfy` was 1–2 % of its samples).
    static func needsNoEscaping(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        var flagged: UInt8 = 0
        for byte in utf8 {
            // Below 0x20 wraps past 0x5E, and so does 0x7F and above.
            flagged |= (byte &- 0x20 > 0x5E ? 1 : 0) | (byte == UInt8(ascii: "\"") ? 1 : 0) | (byte == UInt8(ascii: "\\") ? 1 : 0)
        }
        return flagged == 0
    }

    /// Base64 of `raw` as a JSON string. Encoded on the stack and appended in one copy: growing
    /// the array by a run of zeros first walked them one by one (about 1 % of an identity map's
    /// samples, one raw UID per identity).
    mutating func base64String(_ raw: [UInt8]) {
        let length = Base64.encodedLength(raw.count, padding: true)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: length + 2) { text in
            text[0] = UInt8(ascii: "\"")
            let written = Base64.encode(raw, alphabet: .standard, into: UnsafeMutableBufferPointer(rebasing: text[1..<(1 + length)]))
            text[1 + written] = UInt8(ascii: "\"")
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: text[0..<(2 + written)]))
        }
    }

    /// The decimal digits of `value`, written from the last on the stack: `String(value)` went
    /// through the standard library's generic formatting (about 1 % of an identity map's samples,
    /// one time per identity).
    mutating func integer(_ value: Int64) {
        // 19 digits and a sign at most (Int64.min); the magnitude is unsigned, so it never overflows.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var remaining = value.magnitude
            var start = digits.count
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: remaining % 10)
                remaining /= 10
            } while remaining != 0
            if value < 0 {
                start -= 1
                digits[start] = UInt8(ascii: "-")
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }
}
