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

    private let table: [FirstLevelHashKey: (IdentityType, Behaviour)]

    public static let definitions: [(IdentityInputKind, String, Behaviour)] = [
        (.email, "validate@example.com", .neverOptedOut),
        (.phone, "+12345678901", .neverOptedOut),
        (.email, "optout@example.com", .alwaysOptedOut),
        (.phone, "+00000000000", .alwaysOptedOut),
        (.email, "refresh-optout@example.com", .optedOutOnRefresh),
        (.phone, "+00000000002", .optedOutOnRefresh),
    ]

    public init(firstLevelSalt: [UInt8]) {
        var table = [FirstLevelHashKey: (IdentityType, Behaviour)]()
        for (kind, value, behaviour) in Self.definitions {
            let hash = IdentityHash(kind: kind, value: value)!
            let flh = HashChain.firstLevelHash(identityHash: hash.bytes, firstLevelSalt: firstLevelSalt)
            table[FirstLevelHashKey(flh)!] = (kind.type, behaviour)
        }
        self.table = table
    }

    public func behaviour(type: IdentityType, firstLevelHash: [UInt8]) -> Behaviour? {
        guard let key = FirstLevelHashKey(firstLevelHash), let (entryType, behaviour) = table[key], entryType == type else {
            return nil
        }
        return behaviour
    }
}
