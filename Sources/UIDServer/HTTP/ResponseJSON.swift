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

    /// Base64 of `raw` as a JSON string, encoded on the stack and appended in one copy (`piece`):
    /// growing the array by a run of zeros first walked them one by one.
    mutating func base64String(_ raw: [UInt8]) {
        raw.withUnsafeBytes { base64String($0) }
    }

    /// As above for a value held inline (an identity map's raw UIDs).
    mutating func base64String(_ raw: InlineBytes) {
        raw.withUnsafeBytes { base64String($0) }
    }

    mutating func base64String(_ raw: UnsafeRawBufferPointer) {
        piece(maxLength: JSONPiece.base64StringLength(raw.count)) { $0.base64String(raw) }
    }

    /// The decimal digits of `value`, written on the stack (`String(value)` went through the
    /// standard library's generic formatting, about 1 % of an identity map's samples).
    mutating func integer(_ value: Int64) {
        piece(maxLength: JSONPiece.integerMaxLength) { $0.integer(value) }
    }

    /// Appends what `compose` writes, at most `maxLength` bytes, in one copy. `compose` works on
    /// the stack: an identity map's answer is one piece per identity, where appending each of its
    /// eight parts to the array was about 4 % of the map's samples.
    mutating func piece(maxLength: Int, _ compose: (inout JSONPiece) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maxLength) { buffer in
            var piece = JSONPiece(buffer: buffer)
            compose(&piece)
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[0..<piece.count]))
        }
    }
}

/// JSON composed in a buffer the caller sized with the length functions below. A write that
/// would not fit is left out whole, never cut and never past the buffer; sized as documented,
/// none is.
struct JSONPiece {
    private let buffer: UnsafeMutableBufferPointer<UInt8>
    private(set) var count = 0

    init(buffer: UnsafeMutableBufferPointer<UInt8>) {
        self.buffer = buffer
    }

    /// 19 digits and a sign (Int64.min).
    static let integerMaxLength = 20

    /// Quotes and base64 of `byteCount` bytes.
    static func base64StringLength(_ byteCount: Int) -> Int {
        Base64.encodedLength(byteCount, padding: true) + 2
    }

    private var room: Int { buffer.count - count }

    @inline(__always)
    mutating func literal(_ text: StaticString) {
        let length = text.utf8CodeUnitCount
        guard length <= room, let start = buffer.baseAddress else { return }
        (start + count).update(from: text.utf8Start, count: length)
        count += length
    }

    mutating func base64String(_ raw: UnsafeRawBufferPointer) {
        let length = Self.base64StringLength(raw.count)
        guard length <= room else { return }
        buffer[count] = UInt8(ascii: "\"")
        let written = Base64.encode(raw, alphabet: .standard, into: UnsafeMutableBufferPointer(rebasing: buffer[(count + 1)..<(count + length - 1)]))
        buffer[count + 1 + written] = UInt8(ascii: "\"")
        count += 2 + written
    }

    /// `utf8` in quotes, as it is: only for text `ResponseJSON.needsNoEscaping` accepts.
    @inline(__always)
    mutating func plainString(utf8: UnsafeBufferPointer<UInt8>) {
        guard utf8.count + 2 <= room, let start = buffer.baseAddress else { return }
        buffer[count] = UInt8(ascii: "\"")
        if let source = utf8.baseAddress { (start + count + 1).update(from: source, count: utf8.count) }
        buffer[count + 1 + utf8.count] = UInt8(ascii: "\"")
        count += utf8.count + 2
    }

    /// Digits written from the last: the magnitude is unsigned, so `Int64.min` never overflows.
    mutating func integer(_ value: Int64) {
        var digits = 1
        var scan = value.magnitude
        while scan >= 10 {
            scan /= 10
            digits += 1
        }
        let length = digits + (value < 0 ? 1 : 0)
        guard length <= room else { return }
        var remaining = value.magnitude
        var position = count + length
        repeat {
            position -= 1
            buffer[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: remaining % 10)
            remaining /= 10
        } while remaining != 0
        if value < 0 { buffer[count] = UInt8(ascii: "-") }
        count += length
    }
}
