import Foundation
import UIDProtocol

/// One row of `salt_buckets`: a bucket at its position. A bucket holds a salt (v2/v3) or key
/// material (v4); absent values are NULL, and an empty text reads as absent too.
struct SaltBucketRow: StoreRow {
    var position: Int
    var entry: SaltTable.Entry

    static var table: StoreTable { .saltBuckets }

    var storeValues: [StoreValue] {
        [.int32(Int32(truncatingIfNeeded: position)), .int64(entry.id), .int64(entry.lastUpdatedMillis), .utf8(entry.currentSalt),
         .int64(entry.refreshFromMillis), .utf8(entry.previousSalt),
         .int32(entry.currentKey?.id), .utf8(entry.currentKey?.key), .utf8(entry.currentKey?.salt),
         .int32(entry.previousKey?.id), .utf8(entry.previousKey?.key), .utf8(entry.previousKey?.salt)]
    }

    init(position: Int, entry: SaltTable.Entry) {
        self.position = position
        self.entry = entry
    }

    init?(reading row: some StoreRowReader) throws {
        func bytes(_ column: Int) throws -> [UInt8]? { try row.text(column).map { Array($0.utf8) } }
        self.init(position: Int(try row.int32(required: 0)), entry: Self.entry(
            id: try row.int64(required: 1), lastUpdatedMillis: try row.int64(required: 2), refreshFromMillis: try row.int64(required: 4),
            currentSalt: try bytes(3), previousSalt: try bytes(5),
            currentKey: (try row.int32(6), try bytes(7), try bytes(8)), previousKey: (try row.int32(9), try bytes(10), try bytes(11))
        ))
    }

    /// A bucket from its stored values, however they were read.
    static func entry(
        id: Int64, lastUpdatedMillis: Int64, refreshFromMillis: Int64, currentSalt: [UInt8]?, previousSalt: [UInt8]?,
        currentKey: (id: Int32?, key: [UInt8]?, salt: [UInt8]?), previousKey: (id: Int32?, key: [UInt8]?, salt: [UInt8]?)
    ) -> SaltTable.Entry {
        SaltTable.Entry(
            id: id, lastUpdatedMillis: lastUpdatedMillis, refreshFromMillis: refreshFromMillis,
            currentSalt: present(currentSalt), previousSalt: present(previousSalt),
            currentKey: material(currentKey), previousKey: material(previousKey)
        )
    }

    private static func present(_ bytes: [UInt8]?) -> [UInt8]? {
        guard let bytes, !bytes.isEmpty else { return nil }
        return bytes
    }

    private static func material(_ stored: (id: Int32?, key: [UInt8]?, salt: [UInt8]?)) -> SaltKeyMaterial? {
        guard let id = stored.id, let key = present(stored.key) else { return nil }
        return SaltKeyMaterial(id: id, key: key, salt: stored.salt ?? [])
    }
}

/// The single row of `salt_metadata`.
struct SaltMetadataRow: StoreRow {
    var firstLevelSalt: [UInt8]
    var idPrefix: String
    var idSecret: String
    /// When the last salt run happened (epoch ms).
    var lastRunMillis: Int64

    static var table: StoreTable { .saltMetadata }

    var storeValues: [StoreValue] { [.int32(1), .utf8(firstLevelSalt), .text(idPrefix), .text(idSecret), .int64(lastRunMillis)] }

    init(firstLevelSalt: [UInt8], idPrefix: String, idSecret: String, lastRunMillis: Int64) {
        self.firstLevelSalt = firstLevelSalt
        self.idPrefix = idPrefix
        self.idSecret = idSecret
        self.lastRunMillis = lastRunMillis
    }

    init?(reading row: some StoreRowReader) throws {
        self.init(firstLevelSalt: Array(try row.text(required: 1).utf8), idPrefix: try row.text(required: 2), idSecret: try row.text(required: 3),
                  lastRunMillis: try row.int64(required: 4))
    }

    /// The row for a salt table written whole (seeding, an import). The last salt run is taken to
    /// be the newest bucket's, so that fresh salts are not due at once.
    init(_ salts: SaltTable) {
        let newestBucket = (0..<salts.count).reduce(Int64(0)) { max($0, salts.lastUpdatedMillis(at: $1)) }
        self.init(firstLevelSalt: salts.firstLevelSalt, idPrefix: salts.idPrefix, idSecret: salts.idSecret, lastRunMillis: newestBucket)
    }

    /// The row for an imported salt table: as `init(_:)`, but never in the future (the reference's
    /// test data dates its buckets 2026–2027, which would hold rotation off until then).
    init(importing salts: SaltTable) {
        self.init(salts)
        lastRunMillis = min(lastRunMillis, StoreClock.nowMillis())
    }

    /// A new empty salt table with this row's secrets, sized for `count` buckets.
    func emptyTable(expectedCount count: Int) -> SaltTable {
        SaltTable(firstLevelSalt: firstLevelSalt, idPrefix: idPrefix, idSecret: idSecret, expectedCount: count)
    }
}
