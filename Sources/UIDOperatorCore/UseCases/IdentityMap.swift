import UIDProtocol

/// One identifier as sent in an identity-map array.
public enum MapInput: Sendable, Equatable {
    case string(String)
    case null
}

/// The outcome for one identifier of an identity-map request.
public enum MappedIdentity: Sendable, Equatable {
    /// Current raw UID, previous raw UID (within 90 days of rotation), refresh-from (epoch ms), bucket.
    case mapped(current: [UInt8], previous: [UInt8]?, refreshFromMillis: Int64, bucketID: Int64)
    case optOut
    case invalidIdentifier
}

/// `/v3/identity/map`: any mix of the four kinds, each answered index by index.
/// A kind given as an empty array or as null is present with no values: the request is still valid.
public struct IdentityMapRequest: Sendable {
    public var inputs: [IdentityInputKind: [String]]

    public init(inputs: [IdentityInputKind: [String]]) {
        self.inputs = inputs
    }

    public var count: Int { inputs.values.reduce(0) { $0 + $1.count } }
}

extension OperatorSnapshot {
    /// Maps one identifier: normalize, resolve, check opt-out (test identities included).
    public func mapIdentity(kind: IdentityInputKind, value: String, nowMillis now: Int64) -> MappedIdentity {
        mapIdentity(kind: kind, value: value, nowMillis: now, withPrevious: true)
    }

    /// `withPrevious: false` skips the previous raw UID (a hash) for callers that do not report it (map v2).
    func mapIdentity(kind: IdentityInputKind, value: String, nowMillis now: Int64, withPrevious: Bool) -> MappedIdentity {
        mapIdentity(kind: kind, value: value, nowMillis: now, withPrevious: withPrevious, salts: salts, options: config.rawUIDOptions)
    }

    /// As above, with the salt table and options taken once per request by the caller: read through
    /// `self` for every identity, the table's arrays were retained and released each time, and the
    /// threads mapping at once contended for their reference counts.
    func mapIdentity(
        kind: IdentityInputKind, value: String, nowMillis now: Int64, withPrevious: Bool, salts: borrowing SaltTable, options: RawUIDOptions
    ) -> MappedIdentity {
        guard let hash = IdentityHash(kind: kind, value: value) else { return .invalidIdentifier }
        let flh = HashChain.firstLevelHash(identityHash: hash.bytes, firstLevelSalt: salts.firstLevelSalt)
        if isOptedOut(type: hash.type, firstLevelHash: flh, forRefresh: false) { return .optOut }
        // The bucket's salts are read in place (`withBucketSalts`): copying them was a quarter of a map.
        return salts.withBucketSalts(at: salts.bucketIndex(firstLevelHash: flh)) { bucket in
            guard let current = bucket.currentRawUID(firstLevelHash: flh, type: hash.type, options: options) else { return .invalidIdentifier }
            return .mapped(
                current: current,
                previous: withPrevious
                    ? bucket.previousRawUID(firstLevelHash: flh, type: hash.type, options: options, asOfMillis: now)
                    : nil,
                refreshFromMillis: SaltSchedule.mappingRefreshFrom(refreshFromMillis: bucket.refreshFromMillis, nowMillis: now),
                bucketID: bucket.id
            )
        }
    }

    public func batchSizeFailure(_ count: Int) -> OperatorFailure? {
        guard count > config.identityMapMaxBatchSize else { return nil }
        return .clientError("Request payload is too large: \(count) identifiers given, at most \(config.identityMapMaxBatchSize) per request")
    }

    public func mapIdentities(_ request: IdentityMapRequest, nowMillis now: Int64) -> Result<[IdentityInputKind: [MappedIdentity]], OperatorFailure> {
        // Only a request naming none of the four kinds is refused; empty or null arrays map to empty arrays.
        guard !request.inputs.isEmpty else {
            return .failure(.clientError("Required Parameter Missing: one or more of [email, email_hash, phone, phone_hash] must be specified"))
        }
        if let failure = batchSizeFailure(request.count) { return .failure(failure) }
        var results = [IdentityInputKind: [MappedIdentity]]()
        let salts = salts
        let options = config.rawUIDOptions
        for (kind, values) in request.inputs {
            results[kind] = values.map { mapIdentity(kind: kind, value: $0, nowMillis: now, withPrevious: true, salts: salts, options: options) }
        }
        return .success(results)
    }

    /// The public bucket id: `id_prefix` + Hashids(`id_secret`, min length 9) of the bucket id.
    public func publicBucketID(_ bucketID: Int64) -> String {
        bucketIDEncoder.encode(bucketID)
    }

    /// Buckets rotated at or after `sinceMillis`, for `/v2/identity/buckets`.
    public func bucketsUpdated(sinceMillis since: Int64) -> [(bucketID: String, lastUpdatedMillis: Int64)] {
        var result = [(String, Int64)]()
        for position in 0..<salts.count where salts.lastUpdatedMillis(at: position) >= since {
            result.append((publicBucketID(salts[position].id), salts.lastUpdatedMillis(at: position)))
        }
        return result
    }
}
