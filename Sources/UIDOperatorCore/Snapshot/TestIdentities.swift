import UIDProtocol

/// The reference's fixed test identities (docs/PROTOCOL.md#test-identities), matched by type and first-level hash,
/// which are computed once per snapshot with its first-level salt.
public struct TestIdentities: Sendable {
    public enum Behaviour: Sendable, Equatable {
        /// Never opted out.
        case neverOptedOut
        /// Always opted out.
        case alwaysOptedOut
        /// Tokens on generate, opted out on refresh.
        case optedOutOnRefresh
    }

    /// Six entries, scanned in order: every mapped identity is checked against them, and comparing
    /// six keys word by word costs less than hashing one key for a dictionary (about 3 % of a map).
    private let table: [(key: FirstLevelHashKey, type: IdentityType, behaviour: Behaviour)]

    public static let definitions: [(IdentityInputKind, String, Behaviour)] = [
        (.email, "validate@example.com", .neverOptedOut),
        (.phone, "+12345678901", .neverOptedOut),
        (.email, "optout@example.com", .alwaysOptedOut),
        (.phone, "+00000000000", .alwaysOptedOut),
        (.email, "refresh-optout@example.com", .optedOutOnRefresh),
        (.phone, "+00000000002", .optedOutOnRefresh),
    ]

    public init(firstLevelSalt: [UInt8]) {
        table = Self.definitions.map { kind, value, behaviour in
            let hash = IdentityHash(kind: kind, value: value)!
            let flh = HashChain.firstLevelHash(identityHash: hash.hash, firstLevelSalt: firstLevelSalt)
            return (FirstLevelHashKey(flh)!, kind.type, behaviour)
        }
    }

    public func behaviour(type: IdentityType, firstLevelHash: [UInt8]) -> Behaviour? {
        FirstLevelHashKey(firstLevelHash).flatMap { behaviour(type: type, firstLevelHash: $0) }
    }

    public func behaviour(type: IdentityType, firstLevelHash key: FirstLevelHashKey) -> Behaviour? {
        for entry in table where entry.key == key {
            return entry.type == type ? entry.behaviour : nil
        }
        return nil
    }
}
