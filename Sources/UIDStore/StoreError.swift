import UIDOperatorCore

/// What either store throws, apart from its driver's own errors (`PostgresStoreError`).
public enum StoreError: Error, CustomStringConvertible {
    case notInitialized
    /// Seeding found data written meanwhile (another node or process seeded first).
    case alreadyInitialized
    case notFound(String)
    /// A stored row that no model can be made of (a NULL where a value must be).
    case malformedRow(String)

    public var description: String {
        switch self {
        case .notInitialized: "the store has not been initialized"
        case .alreadyInitialized: "the store already holds operator data"
        case .notFound(let what): "no \(what) in the store"
        case .malformedRow(let reason): "a stored row is malformed: \(reason)"
        }
    }
}

/// A record a bulk import refuses.
public struct ImportRecordError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }

    /// Every record's first-level hash must be 32 bytes.
    static func check(_ records: [OptOutRecord]) throws {
        if let bad = records.first(where: { $0.firstLevelHash.count != 32 }) {
            throw ImportRecordError(message: "an opt-out record's first-level hash must be 32 bytes, got \(bad.firstLevelHash.count)")
        }
    }
}
