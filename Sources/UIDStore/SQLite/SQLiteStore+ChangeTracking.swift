import Foundation
import GRDB
import UIDOperatorCore
import UIDProtocol

/// What nodes poll to notice changes: the versions, a load with its markers, the salt buckets
/// changed since a version, and opt-outs recorded since a watermark.
extension SQLiteStore {
    public func version() async throws -> StoreVersion {
        try await pool.read { db in try Self.version(db) }
    }

    static func version(_ db: Database) throws -> StoreVersion {
        StoreVersion(counters: try Row.fetchAll(db, sql: StoreSQL.versions).map { ($0[0] as Int, $0[1] as Int64) })
    }

    public func loadState(includingSalts: Bool, includingOptOuts: Bool) async throws -> StoreState {
        // Rows are only ever appended: the opt-outs up to this watermark are loaded alongside the
        // rest (salts take a second of their own), and later rows reach the node through
        // `optOuts(after:)`.
        // A start reads nearly the whole file: have the kernel fetch it in large pieces first.
        if includingOptOuts { FilePrefetch.adviseWillReadInBackground(path: pool.path) }
        let watermark = try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) FROM optouts") ?? 0 }
        async let optOuts = includingOptOuts ? loadOptOuts(upTo: watermark) : OptOutIndex()
        var state = try await pool.read { db in
            StoreState(
                contents: try Self.contents(db, includingSalts: includingSalts, includingOptOuts: false),
                version: try Self.version(db),
                optOutWatermark: watermark,
                runtimeSettings: try Self.runtimeSettings(db)
            )
        }
        state.contents.optOuts = try await optOuts
        return state
    }

    public func saltChanges(after version: Int64) async throws -> SaltChanges? {
        try await pool.read { db in
            let current = try Int64.fetchOne(db, sql: StoreSQL.saltVersion) ?? 0
            guard let writtenIn = try Int64.fetchOne(db, sql: StoreSQL.saltWrittenIn), version >= writtenIn, version <= current else { return nil }
            var changes = SaltChanges(version: current, buckets: [])
            let rows = try Row.fetchCursor(db, sql: "\(SaltBucketRow.table.select) WHERE changed_in > ?", arguments: [version])
            while let row = try rows.next() {
                if let bucket = try SaltBucketRow(reading: row) { changes.buckets.append((bucket.position, bucket.entry)) }
            }
            return changes
        }
    }

    public func optOuts(after watermark: Int64) async throws -> OptOutBatch {
        try await pool.read { db in
            var batch = OptOutBatch(records: [], watermark: watermark)
            let limit = 100_000
            let rows = try Row.fetchCursor(db, sql: "\(OptOutRow.table.select(adding: ["id"])) WHERE id > ? ORDER BY id LIMIT \(limit)", arguments: [watermark])
            var read = 0
            while let row = try rows.next() {
                read += 1
                if let optOut = try OptOutRow(reading: row) { batch.records.append((optOut.record, optOut.recordedMillis)) }
                batch.watermark = try row.decode(Int64.self, atIndex: 4)
            }
            batch.isLast = read < limit
            return batch
        }
    }
}
