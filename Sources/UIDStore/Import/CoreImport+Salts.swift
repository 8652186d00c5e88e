import Foundation
import UIDOperatorCore
import UIDProtocol

/// The salt table: choosing the snapshot in force and parsing its file.
extension CoreImport.Reader {
    struct SaltSnapshotSpec {
        var effective: Int64
        var expires: Int64
        var location: String
        var size: Int?
        var index: Int
    }

    /// docs/PROTOCOL.md#salt-snapshots, as the reference's `RotatingSaltProvider.getSnapshot`: snapshots sorted
    /// by `effective` (stable); walk them in order while they are in force
    /// (`effective ≤ now < expires`) and keep the last such one; if the first is not in force,
    /// the newest. A missing `expires` means load time + 365 days.
    static func snapshotInForce(_ snapshots: [SaltSnapshotSpec], nowMillis: Int64) -> SaltSnapshotSpec? {
        let sorted = snapshots.sorted { ($0.effective, $0.index) < ($1.effective, $1.index) }
        var current: SaltSnapshotSpec?
        for snapshot in sorted {
            guard snapshot.effective <= nowMillis && nowMillis < snapshot.expires else { break }
            current = snapshot
        }
        return current ?? sorted.last
    }

    mutating func readSalts() throws -> SaltTable {
        guard let (metadataFile, metadata) = try metadata("salts") else {
            throw CoreImport.Failure(file: "salts/metadata.json", message: "missing: the directory must be a core store export (the folder holding clients/, keysets/, keyset_keys/, salts/ …)")
        }
        let firstLevel = try metadata.string("first_level")
        guard !firstLevel.isEmpty else { throw metadata.fail("first_level is empty") }
        let idPrefix = try metadata.string("id_prefix")
        let idSecret = try metadata.string("id_secret")
        let defaultExpires = nowMillis &+ 365 * 86_400_000
        let specs = try (metadata.array("salts")).enumerated().map { index, value -> SaltSnapshotSpec in
            guard case .object(let members) = value else {
                throw CoreImport.Failure(file: metadataFile, message: "salts[\(index)]: expected a JSON object")
            }
            let spec = CoreImport.JSONObject(members: members, file: metadataFile, label: "salts[\(index)]")
            let size = try spec.optionalInt64("size")
            if let size, size < 0 || size > 1 << 26 { throw spec.fail("size \(size) is out of range") }
            return SaltSnapshotSpec(
                effective: try spec.int64("effective"), expires: try spec.optionalInt64("expires") ?? defaultExpires,
                location: try spec.string("location"), size: size.map { Int($0) }, index: index
            )
        }
        guard let chosen = Self.snapshotInForce(specs, nowMillis: nowMillis) else {
            throw metadata.fail("no salt snapshots listed")
        }
        if !(chosen.effective <= nowMillis && nowMillis < chosen.expires) {
            warnings.append("\(metadataFile): no salt snapshot is in force at \(nowMillis) ms; using the newest (effective \(chosen.effective), expires \(chosen.expires))")
        }
        let file = try resolve(location: chosen.location, metadataFile: metadataFile)
        let data = try load(file)
        var table = SaltTable(
            firstLevelSalt: Array(firstLevel.utf8), idPrefix: idPrefix, idSecret: idSecret,
            expectedCount: chosen.size ?? 0
        )
        try CoreImport.SaltFileParser.parse(data, file: file, into: &table) { done, total in
            report("salts", done, total)
        }
        if table.count == 0 { throw CoreImport.Failure(file: file, message: "no salt buckets") }
        if let size = chosen.size, size != table.count {
            warnings.append("\(file): metadata says \(size) buckets, the file has \(table.count); using the file")
        }
        return table
    }
}

extension CoreImport {
    /// One line per bucket: `id,last_updated_ms,current_salt,refresh_from_ms,previous_salt,cur_key_id,
    /// cur_key,cur_key_salt,prev_key_id,prev_key,prev_key_salt`. Empty or blank fields are absent;
    /// trailing fields may be missing altogether (older files have 3 or 5).
    enum SaltFileParser {
        static let fieldCount = 11

        static func parse(
            _ data: Data, file: String, into table: inout SaltTable, progress: (Int, Int) -> Void
        ) throws {
            if let first = data.first(where: { !isSpace($0) }), first == UInt8(ascii: "{") {
                if case .object(let members)? = try? JSONDecoder().decode(JSONValue.self, from: data), members["encrypted_payload"] != nil {
                    throw CoreImport.Reader.encrypted(file: file, members: members)
                }
                throw CoreImport.Failure(file: file, message: "expected salt CSV lines, found JSON")
            }
            try data.withUnsafeBytes { raw in
                let bytes = raw.bindMemory(to: UInt8.self)
                let total = estimateLines(bytes)
                var lineNumber = 0
                var start = 0
                var fields = [Range<Int>](repeating: 0..<0, count: fieldCount)
                while start < bytes.count {
                    var end = start
                    while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
                    let next = end + 1
                    lineNumber += 1
                    if end > start && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                    defer { start = next }
                    if (start..<end).allSatisfy({ isSpace(bytes[$0]) }) { continue }

                    var count = 0
                    var fieldStart = start
                    for position in start...end where position == end || bytes[position] == UInt8(ascii: ",") {
                        guard count < fieldCount else {
                            throw CoreImport.Failure(file: file, message: "line \(lineNumber): more than \(fieldCount) fields")
                        }
                        fields[count] = trimmed(bytes, fieldStart..<position)
                        count += 1
                        fieldStart = position + 1
                    }
                    for index in count..<fieldCount { fields[index] = end..<end }
                    let entry = try entry(bytes, fields, line: lineNumber, file: file)
                    table.append(entry)
                    if table.count % CoreImport.progressInterval == 0 { progress(table.count, max(total, table.count)) }
                }
                progress(table.count, table.count)
            }
        }

        private static func entry(_ bytes: UnsafeBufferPointer<UInt8>, _ fields: [Range<Int>], line: Int, file: String) throws -> SaltTable.Entry {
            func fail(_ message: String) -> CoreImport.Failure {
                CoreImport.Failure(file: file, message: "line \(line): \(message)")
            }
            func integer(_ index: Int, _ name: String) throws -> Int64? {
                let range = fields[index]
                if range.isEmpty { return nil }
                guard let value = parseInt64(bytes, range) else {
                    throw fail("\(name) is not an integer: \"\(String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self))\"")
                }
                return value
            }
            func text(_ index: Int) -> [UInt8]? {
                let range = fields[index]
                return range.isEmpty ? nil : Array(bytes[range])
            }
            func material(_ first: Int, _ name: String) throws -> SaltKeyMaterial? {
                let id = try integer(first, "\(name) key id")
                let key = text(first + 1)
                let salt = text(first + 2)
                if id == nil && key == nil && salt == nil { return nil }
                guard let id, let key, let salt else {
                    throw fail("incomplete \(name) key material: key id, key and key salt must all be present or all be empty")
                }
                guard let id32 = Int32(exactly: id) else { throw fail("\(name) key id \(id) is out of range") }
                guard [16, 24, 32].contains(key.count) else {
                    throw fail("\(name) key must be 16, 24 or 32 characters, got \(key.count)")
                }
                return SaltKeyMaterial(id: id32, key: key, salt: salt)
            }

            guard let id = try integer(0, "bucket id") else { throw fail("missing bucket id") }
            guard let lastUpdated = try integer(1, "last_updated") else { throw fail("missing last_updated") }
            let entry = SaltTable.Entry(
                id: id, lastUpdatedMillis: lastUpdated,
                // Older files have no refresh_from; 0 means "already due", so map v3 answers the next
                // midnight, as it does for any past refresh_from.
                refreshFromMillis: try integer(3, "refresh_from") ?? 0,
                currentSalt: text(2), previousSalt: text(4),
                currentKey: try material(5, "current"), previousKey: try material(8, "previous")
            )
            if entry.currentSalt == nil && entry.currentKey == nil {
                throw fail("bucket \(id) has neither a current salt nor current key material")
            }
            return entry
        }

        private static func isSpace(_ byte: UInt8) -> Bool {
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
        }

        private static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Range<Int> {
            var lower = range.lowerBound
            var upper = range.upperBound
            while lower < upper && isSpace(bytes[lower]) { lower += 1 }
            while upper > lower && isSpace(bytes[upper - 1]) { upper -= 1 }
            return lower..<upper
        }

        static func parseInt64(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int64? {
            var index = range.lowerBound
            var negative = false
            if index < range.upperBound && (bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+")) {
                negative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            guard index < range.upperBound else { return nil }
            var value: Int64 = 0
            while index < range.upperBound {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = negative ? times.subtractingReportingOverflow(Int64(digit)) : times.addingReportingOverflow(Int64(digit))
                guard !overflow1 && !overflow2 else { return nil }
                value = sum
                index += 1
            }
            return value
        }

        private static func estimateLines(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
            var count = 0
            for byte in bytes where byte == UInt8(ascii: "\n") { count += 1 }
            return bytes.last == UInt8(ascii: "\n") || bytes.isEmpty ? count : count + 1
        }
    }
}

