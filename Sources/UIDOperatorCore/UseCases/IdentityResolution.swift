import UIDProtocol

/// The identity fields of generate/validate requests: exactly one may be given.
public struct IdentityFields: Sendable, Equatable {
    public var email: JSONField = .absent
    public var emailHash: JSONField = .absent
    public var phone: JSONField = .absent
    public var phoneHash: JSONField = .absent

    public init(email: JSONField = .absent, emailHash: JSONField = .absent, phone: JSONField = .absent, phoneHash: JSONField = .absent) {
        self.email = email
        self.emailHash = emailHash
        self.phone = phone
        self.phoneHash = phoneHash
    }

    /// Picks and validates the single identity, with the reference's messages.
    public func identityHash(phoneSupport: Bool) -> Result<IdentityHash, OperatorFailure> {
        var candidates: [(IdentityInputKind, JSONField)] = [(.email, email), (.emailHash, emailHash)]
        if phoneSupport { candidates += [(.phone, phone), (.phoneHash, phoneHash)] }
        let provided = candidates.filter { $0.1.isProvided }
        guard provided.count == 1, let (kind, field) = provided.first else {
            return .failure(phoneSupport
                ? .exactlyOneIdentityKind
                : .clientError("Required Parameter Missing: exactly one of email or email_hash must be specified"))
        }
        guard case .string(let value) = field else {
            return .failure(.clientError("Invalid Identifier: \(kind.fieldName) must be a JSON string"))
        }
        guard let hash = IdentityHash(kind: kind, value: value) else { return .failure(.invalidIdentifier) }
        return .success(hash)
    }
}

/// An identity placed in the salt table: everything needed to mint tokens or map it.
public struct ResolvedIdentity: Sendable {
    public let type: IdentityType
    public let firstLevelHash: [UInt8]
    public let bucketIndex: Int
    public let bucket: SaltTable.Entry

    public init(type: IdentityType, firstLevelHash: [UInt8], bucketIndex: Int, bucket: SaltTable.Entry) {
        self.type = type
        self.firstLevelHash = firstLevelHash
        self.bucketIndex = bucketIndex
        self.bucket = bucket
    }

    /// Places `identity` knowing only the first-level salt and the number of buckets, reading the
    /// one bucket it falls in: what a command deriving one identity needs, without a snapshot.
    public static func resolve(
        _ identity: IdentityHash, firstLevelSalt: [UInt8], bucketCount: Int, bucketAt: (Int) async throws -> SaltTable.Entry?
    ) async throws -> ResolvedIdentity? {
        guard bucketCount > 0 else { return nil }
        let flh = HashChain.firstLevelHash(identityHash: identity.hash, firstLevelSalt: firstLevelSalt).bytes
        let index = HashChain.bucketIndex(firstLevelHash: flh, bucketCount: bucketCount)
        guard let bucket = try await bucketAt(index) else { return nil }
        return ResolvedIdentity(type: identity.type, firstLevelHash: flh, bucketIndex: index, bucket: bucket)
    }

    /// The current raw UID under `options`; nil only when the bucket has neither salt nor usable key material.
    public func currentRawUID(options: RawUIDOptions) -> [UInt8]? {
        bucket.currentRawUID(firstLevelHash: firstLevelHash, type: type, options: options)
    }
}

extension OperatorSnapshot {
    public func resolve(_ identity: IdentityHash) -> ResolvedIdentity {
        resolve(type: identity.type, firstLevelHash: HashChain.firstLevelHash(identityHash: identity.hash, firstLevelSalt: salts.firstLevelSalt).bytes)
    }

    public func resolve(type: IdentityType, firstLevelHash: [UInt8]) -> ResolvedIdentity {
        let index = salts.bucketIndex(firstLevelHash: firstLevelHash)
        return ResolvedIdentity(type: type, firstLevelHash: firstLevelHash, bucketIndex: index, bucket: salts[index])
    }

    /// The current raw UID; nil only when a bucket has neither salt nor usable key material.
    public func currentRawUID(_ identity: ResolvedIdentity) -> [UInt8]? {
        identity.currentRawUID(options: config.rawUIDOptions)
    }

    /// The reference's opt-out decision (docs/PROTOCOL.md#opt-out-decision): test identities first, then any record.
    /// A first-level hash that is not 32 bytes matches no test identity and no record.
    public func isOptedOut(type: IdentityType, firstLevelHash: [UInt8], forRefresh: Bool) -> Bool {
        FirstLevelHashKey(firstLevelHash).map { isOptedOut(type: type, firstLevelHash: $0, forRefresh: forRefresh) } ?? false
    }

    public func isOptedOut(type: IdentityType, firstLevelHash key: FirstLevelHashKey, forRefresh: Bool) -> Bool {
        switch testIdentities.behaviour(type: type, firstLevelHash: key) {
        case .neverOptedOut: return false
        case .alwaysOptedOut: return true
        case .optedOutOnRefresh: return forRefresh
        case nil: return optedOutSince(firstLevelHash: key) != nil
        }
    }
}
