import Foundation
import PostgresNIO
import UIDOperatorCore
import UIDProtocol

/// Key rotation, under the keys lock: a node that waited for it sees what the previous holder committed.
extension PostgresStore {
    public func rotateKey(keysetID: Int32, expireOthersAt: Int64?, makeKey: (_ keyID: Int32) -> KeysetKey) async throws -> KeysetKey {
        try await transaction { connection in
            try await self.lock(.keys, connection)
            let exists = PostgresQuery(unsafeSQL: StoreSQL.keysetExists(.postgres), binds: try Self.binds([.int32(keysetID)]))
            guard try await self.value(Int64.self, exists, connection) == 1 else { throw StoreError.notFound("keyset \(keysetID)") }
            let key = makeKey(try await self.nextKeyID(connection))
            if let expireOthersAt {
                try await self.execute(StoreSQL.expireKeys(.postgres), [.int64(expireOthersAt), .int32(keysetID)], connection)
            }
            try await self.insert(key, connection)
            return key
        }
    }

    public func rotateDueKeys(
        keysetIDs: [Int32], plan: @escaping @Sendable (_ keysetID: Int32, _ keys: [KeysetKey]) -> RotationPolicy.KeyRotation?,
        makeKey: @escaping @Sendable (_ keyID: Int32, _ keysetID: Int32, _ rotation: RotationPolicy.KeyRotation) -> KeysetKey
    ) async throws -> [KeysetKey] {
        // The lock makes check-then-insert atomic across nodes: a node that waited for it plans
        // from the keys the first one committed, and finds nothing due.
        try await transaction { connection in
            try await self.lock(.keys, connection)
            var added = [KeysetKey]()
            for keysetID in keysetIDs {
                let keys = try await self.fetch(KeysetKey.self, connection, "WHERE keyset_id = $1 ORDER BY id", [.int32(keysetID)])
                guard let rotation = plan(keysetID, keys) else { continue }
                let id = try await self.nextKeyID(connection)
                try await self.execute(StoreSQL.expireKeys(.postgres), [.int64(rotation.expireOthersAtSeconds), .int32(keysetID)], connection)
                let key = makeKey(id, keysetID, rotation)
                try await self.insert(key, connection)
                added.append(key)
            }
            return added
        }
    }

    private func nextKeyID(_ connection: PostgresConnection) async throws -> Int32 {
        try await value(Int32.self, PostgresQuery(unsafeSQL: StoreSQL.nextKeyID), connection) ?? 1
    }
}
