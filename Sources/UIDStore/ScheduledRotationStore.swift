import UIDOperatorCore
import UIDProtocol

/// The two writes the rotation service makes on schedule. Each takes the store's lock for its kind
/// (keys, salts), so a caller that can tell from its snapshot that nothing is due should not call.
public protocol ScheduledRotationStore: Sendable {
    /// Scheduled rotation, safe with several nodes: each keyset is checked and rotated inside one
    /// exclusive write, so when nodes race only the first adds a key. `plan` decides from the
    /// keyset's current keys; `makeKey` builds the key from the next free id.
    func rotateDueKeys(
        keysetIDs: [Int32], plan: @escaping @Sendable (_ keysetID: Int32, _ keys: [KeysetKey]) -> RotationPolicy.KeyRotation?,
        makeKey: @escaping @Sendable (_ keyID: Int32, _ keysetID: Int32, _ rotation: RotationPolicy.KeyRotation) -> KeysetKey
    ) async throws -> [KeysetKey]
    /// One salt rotation run in one exclusive write, safe with several nodes: reads the buckets whose
    /// `refresh_from` is before `dueBeforeMillis` (all of them for `Int64.max`) and the table's size,
    /// lets `plan` decide (`SaltSchedule.plan`) and writes its decision. With `skipIfRunSinceMillis`
    /// it does nothing when a run already happened at or after that time: the scheduled daily run
    /// every node attempts, which only the first one does. The run is recorded; the salt version
    /// (and so a reload on every node) changes only if a bucket did. Nil when skipped.
    func rotateSalts(
        nowMillis: Int64, dueBeforeMillis: Int64, skipIfRunSinceMillis: Int64?,
        plan: @escaping @Sendable (_ candidates: [SaltSchedule.Bucket], _ totalBuckets: Int) -> SaltSchedule.Plan
    ) async throws -> SaltRotationOutcome?
}
