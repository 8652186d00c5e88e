import PostgresNIO

/// Bulk transfer without a PostgresNIO row or bound value per record: its per-row and per-value
/// costs (about 27 µs to iterate a row and 3 µs to bind a value in a debug build) would make a
/// million salt buckets take a minute each way. Reads aggregate many records into one BYTEA per
/// row server-side (`string_agg`), decoded here; writes use COPY in text format.
enum Bulk {
    /// SQL for a nullable BYTEA value as a 4-byte big-endian length (-1 for NULL) and its bytes.
    static func field(_ expression: String) -> String {
        "int4send(COALESCE(length(\(expression)), -1)) || COALESCE(\(expression), ''::bytea)"
    }

    /// Reads records `string_agg` packed: big-endian integers and `field`s.
    struct Reader {
        private let bytes: UnsafeRawBufferPointer
        private var offset = 0

        init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var isAtEnd: Bool { offset >= bytes.count }

        mutating func int64() throws -> Int64 {
            try need(8)
            defer { offset += 8 }
            return Int64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int64.self))
        }

        mutating func int32() throws -> Int32 {
            try need(4)
            defer { offset += 4 }
            return Int32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self))
        }

        /// A `field`: nil for NULL.
        mutating func field() throws -> UnsafeRawBufferPointer? {
            let length = Int(try int32())
            guard length >= 0 else { return nil }
            try need(length)
            defer { offset += length }
            return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
        }

        private func need(_ count: Int) throws {
            guard count <= bytes.count - offset else { throw PostgresStoreError.malformedBulkRow }
        }
    }

    /// Rows for `COPY … FROM STDIN` in text format: tab-separated, `\N` for NULL, backslash escapes.
    struct CopyText {
        private var bytes: [UInt8] = []
        private var atRowStart = true
        static let flushSize = 1 << 20

        init() { bytes.reserveCapacity(Self.flushSize + 4_096) }

        var isEmpty: Bool { bytes.isEmpty }
        var isFull: Bool { bytes.count >= Self.flushSize }

        mutating func take() -> ByteBuffer {
            defer { bytes.removeAll(keepingCapacity: true) }
            return ByteBuffer(bytes: bytes)
        }

        private mutating func separate() {
            if atRowStart { atRowStart = false } else { bytes.append(UInt8(ascii: "\t")) }
        }

        mutating func endRow() {
            bytes.append(UInt8(ascii: "\n"))
            atRowStart = true
        }

        private mutating func null() {
            bytes.append(UInt8(ascii: "\\"))
            bytes.append(UInt8(ascii: "N"))
        }

        mutating func integer(_ value: Int64?) {
            separate()
            guard let value else { return null() }
            bytes.append(contentsOf: String(value).utf8)
        }

        /// A TEXT value from bytes, as SQLite stores them (`String(decoding:as: UTF8.self)`).
        mutating func text(_ value: [UInt8]?) {
            separate()
            guard let value else { return null() }
            var plain = true
            for byte in value where byte < 0x20 || byte >= 0x80 || byte == UInt8(ascii: "\\") {
                plain = false
                break
            }
            if plain { return bytes.append(contentsOf: value) }
            for byte in String(decoding: value, as: UTF8.self).utf8 {
                switch byte {
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                default: bytes.append(byte)
                }
            }
        }

        /// A BYTEA value: `\\x` and hex digits (the backslash escaped for COPY).
        mutating func bytea(_ value: [UInt8]?) {
            separate()
            guard let value else { return null() }
            let digits = Array("0123456789abcdef".utf8)
            bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\"), UInt8(ascii: "x")])
            for byte in value {
                bytes.append(digits[Int(byte >> 4)])
                bytes.append(digits[Int(byte & 0x0f)])
            }
        }
    }
}

extension Bulk.CopyText {
    /// One row of `values`, in the order of the COPY's columns.
    mutating func row(_ values: [StoreValue]) {
        for value in values {
            switch value {
            case .int32(let value): integer(value.map { Int64($0) })
            case .int64(let value): integer(value)
            case .text(let value): text(value.map { Array($0.utf8) })
            case .utf8(let value): text(value)
            case .blob(let value): bytea(value)
            }
        }
        endRow()
    }
}
