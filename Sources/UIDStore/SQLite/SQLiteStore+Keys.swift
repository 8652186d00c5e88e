import Foundation
import GRDB
import UIDOperatorCore
import UIDProtocol

/// Key rotation. GRDB writes are serialized and run as IMMEDIATE transactions: across processes
/// SQLite's write lock makes each check-then-insert atomic.
extension SQLiteStore {
    public func rotateKey(keysetID: Int32, expireOthersAt: Int64?, makeKey: (_ keyID: Int32) -> KeysetKey) throws -> KeysetKey {
        try pool.write { db in
            guard try Int.fetchOne(db, sql: StoreSQL.keysetExists(.sqlite), arguments: [keysetID]) == 1 else {
                throw StoreError.notFound("keyset \(keysetID)")
            }
            let key = makeKey(try Int32.fetchOne(db, sql: StoreSQL.nextKeyID) ?? 1)
            if let expireOthersAt {
                try db.execute(sql: StoreSQL.expireKeys(.sqlite), arguments: [expireOthersAt, keysetID])
            }
            try Self.insert(key, db)
            return key
        }
    }

    public func rotateDueKeys(
        keysetIDs: [Int32], plan: @escaping @Sendable (_ keysetID: Int32, _ keys: [KeysetKey]) -> RotationPolicy.KeyRotation?,
        makeKey: @escaping @Sendable (_ keyID: Int32, _ keysetID: Int32, _ rotation: RotationPolicy.KeyRotation) -> KeysetKey
    ) async throws -> [KeysetKey] {
        try await pool.write { db in
            var added = [KeysetKey]()
            for keysetID in keysetIDs {
                let keys = try Self.fetch(KeysetKey.self, db, "WHERE keyset_id = ? ORDER BY id", arguments: [keysetID])
                guard let rotation = plan(keysetID, keys) else { continue }
                let id = try Int32.fetchOne(db, sql: StoreSQL.nextKeyID) ?? 1
                try db.execute(sql: StoreSQL.expireKeys(.sqlite), arguments: [rotation.expireOthersAtSeconds, keysetID])
                let key = makeKey(id, keysetID, rotation)
                try Self.insert(key, db)
                added.append(key)
            }
            return added
        }
    }
}
