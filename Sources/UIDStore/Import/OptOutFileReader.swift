import Foundation
import UIDOperatorCore

/// The reference opt-out service's delta and partition files (docs/PROTOCOL.md#opt-out-files): concatenated
/// 72-byte entries
///
///     FLH (32) ‖ advertising id (32) ‖ epoch seconds (7, little-endian) ‖ metadata (1)
///
/// Metadata bits 7–6 are the record version: 0 = the advertising id is the 32 bytes as stored;
/// 1 = a 33-byte id whose first byte is kept in bits 5–0. Only those 6 bits survive, so a v4 raw
/// UID whose first byte has bits 7–6 set (e.g. PROD 0xA0) reads back with them cleared (0x20) —
/// the reference's own reader rebuilds it the same way. Opt-outs are looked up by FLH, which is
/// exact; only `/v2/optout/status` for such ids is affected.
public enum OptOutFileReader {
    public static let entrySize = 72

    /// A file's entries, and how many of the reference's special entries were left out.
    public struct Contents: Sendable, Equatable {
        public var records: [OptOutRecord]
        /// Entries whose FLH is 32 zero bytes ("always opted out") or 32 0xFF bytes ("never"):
        /// the reference's synthetic markers (docs/PROTOCOL.md#opt-out-files), not identities.
        public var skippedSpecialEntries: Int
    }

    public struct Failure: Error, CustomStringConvertible, Sendable, Equatable {
        public var file: String
        public var message: String

        public var description: String { "\(file): \(message)" }
    }

    public static func read(_ data: Data, file: String) throws -> [OptOutRecord] {
        try parse(data, file: file).records
    }

    /// Reads a file from disk; errors name its file name.
    public static func read(contentsOf url: URL) throws -> Contents {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw Failure(file: url.lastPathComponent, message: "cannot be read: \(error.localizedDescription)")
        }
        return try parse(data, file: url.lastPathComponent)
    }

    /// All entries in file order (duplicates kept; the store keeps one per FLH). An all-zero
    /// 32-byte advertising id — what `entry` writes for a record without one — reads as nil.
    public static func parse(_ data: Data, file: String) throws -> Contents {
        guard data.count % entrySize == 0 else {
            throw Failure(
                file: file,
                message: "length \(data.count) is not a multiple of \(entrySize): not an opt-out delta/partition file, or truncated"
            )
        }
        var records: [OptOutRecord] = []
        records.reserveCapacity(data.count / entrySize)
        var skipped = 0
        data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            var offset = 0
            while offset < bytes.count {
                defer { offset += entrySize }
                let flh = UnsafeBufferPointer(rebasing: bytes[offset..<offset + 32])
                if flh.allSatisfy({ $0 == 0 }) || flh.allSatisfy({ $0 == 0xFF }) {
                    skipped += 1
                    continue
                }
                let body = UnsafeBufferPointer(rebasing: bytes[offset + 32..<offset + 64])
                var seconds: UInt64 = 0
                for index in (0..<7).reversed() { seconds = seconds << 8 | UInt64(bytes[offset + 64 + index]) }
                let metadata = bytes[offset + 71]
                let advertisingID: [UInt8]?
                if metadata >> 6 == 1 {
                    advertisingID = [metadata & 0x3F] + Array(body)
                } else if body.allSatisfy({ $0 == 0 }) {
                    advertisingID = nil
                } else {
                    advertisingID = Array(body)
                }
                records.append(OptOutRecord(firstLevelHash: Array(flh), advertisingID: advertisingID, optedOutSinceSeconds: Int64(seconds)))
            }
        }
        return Contents(records: records, skippedSpecialEntries: skipped)
    }

    /// One 72-byte entry. `firstLevelHash` must be 32 bytes and `advertisingID` 32 or 33 bytes
    /// (nil writes 32 zero bytes, which `parse` reads back as nil); anything else is a programming
    /// error. Seconds outside 0 ..< 2^56 are clamped.
    public static func entry(firstLevelHash: [UInt8], advertisingID: [UInt8]?, seconds: Int64) -> [UInt8] {
        precondition(firstLevelHash.count == 32, "an opt-out entry's FLH is 32 bytes")
        precondition(advertisingID.map { $0.count == 32 || $0.count == 33 } ?? true, "an advertising id is 32 or 33 bytes")
        var entry = firstLevelHash
        entry.reserveCapacity(entrySize)
        var metadata: UInt8 = 0
        switch advertisingID {
        case let id? where id.count == 33:
            metadata = 1 << 6 | id[0] & 0x3F
            entry += id.dropFirst()
        case let id?:
            entry += id
        case nil:
            entry += [UInt8](repeating: 0, count: 32)
        }
        let clamped = UInt64(min(max(seconds, 0), Int64(1) << 56 - 1))
        for index in 0..<7 { entry.append(UInt8(truncatingIfNeeded: clamped >> (8 * index))) }
        entry.append(metadata)
        return entry
    }

    /// `entry` for a record, so a store's opt-outs can be written in the reference's format.
    public static func entry(_ record: OptOutRecord) -> [UInt8] {
        entry(firstLevelHash: record.firstLevelHash, advertisingID: record.advertisingID, seconds: record.optedOutSinceSeconds)
    }
}
