/// The two ecosystems one binary serves. The raw value is the scope bit written into tokens.
public enum IdentityScope: UInt8, Sendable, CaseIterable {
    case uid2 = 0
    case euid = 1

    public init?(name: some StringProtocol) {
        switch name.lowercased() {
        case "uid2": self = .uid2
        case "euid": self = .euid
        default: return nil
        }
    }

    public var name: String { self == .uid2 ? "uid2" : "euid" }
    public var displayName: String { self == .uid2 ? "UID2" : "EUID" }

    /// Host used in the docs links of error messages (docs/PROTOCOL.md#envelope-errors).
    public var docsHost: String { self == .uid2 ? "https://unifiedid.com" : "https://euid.eu" }
}

public enum IdentityType: UInt8, Sendable, CaseIterable {
    case email = 0
    case phone = 1
}

public enum IdentityEnvironment: UInt8, Sendable, CaseIterable {
    case test = 0
    case integ = 1
    case prod = 2

    public init?(name: some StringProtocol) {
        switch name.lowercased() {
        case "test": self = .test
        case "integ": self = .integ
        case "prod": self = .prod
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .test: "test"
        case .integ: "integ"
        case .prod: "prod"
        }
    }
}

/// `(scope << 4) | (type << 2)`: the prefix of v3 raw UIDs; tokens OR in `0b11`.
@inlinable
public func identityPrefix(scope: IdentityScope, type: IdentityType) -> UInt8 {
    scope.rawValue << 4 | type.rawValue << 2
}

/// Byte 0 of V3/V4 advertising tokens and V3 refresh tokens.
@inlinable
public func tokenIdentityByte(scope: IdentityScope, type: IdentityType) -> UInt8 {
    identityPrefix(scope: scope, type: type) | 0b11
}
