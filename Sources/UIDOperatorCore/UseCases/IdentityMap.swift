import UIDProtocol

/// One identifier as sent in an identity-map array.
public enum MapInput: Sendable, Equatable {
    case string(String)
    case null
}

/// The outcome for one identifier of an identity-map request.
public enum MappedIdentity: Sendable, Equatable {
    /// Current raw UID, previous raw UID (within 90 days of rotation), refresh-from (epoch ms), bucket.
    /// The raw UIDs are held inline: a request's answers are one array, not two more per identity.
    case mapped(current: InlineBytes, previous: InlineBytes?, refreshFromMillis: Int64, bucketID: Int64)
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
        guard let (flh, type) = hashForMapping(kind: kind, value: value, salts: salts) else { return .invalidIdentifier }
        guard let position = bucketForMapping(firstLevelHash: flh, key: FirstLevelHashKey(flh), type: type, salts: salts) else { return .optOut }
        return mapInBucket(at: position, firstLevelHash: flh, type: type, nowMillis: now, withPrevious: withPrevious, salts: salts, options: options)
    }

    /// Identities a batch map hashes before it reads any of their buckets: enough for the chunk's
    /// cache misses to overlap, few enough for its state to stay in the first-level cache.
    public static let mapChunkSize = 16

    /// Maps `count` identities (`value(i)`; nil for a null in the request, an invalid identifier)
    /// and hands each outcome to `deliver` in input order, with the same answers as `mapIdentity`
    /// one by one. Looked up one by one, each identity waited in turn for up to four cache misses
    /// in large tables: the opt-out index's bucket start and slot, the salt bucket and its salt.
    /// So it works a chunk at a time, and hints each of those reads for the whole chunk before
    /// making any of them, so that the chunk's misses overlap:
    /// 1. hash every identity and hint its opt-out lookup;
    /// 2. check the opt-outs and compute the bucket positions;
    /// 3. hint the buckets, then their salts;
    /// 4. make the raw UIDs and deliver.
    func mapEach(
        kind: IdentityInputKind, count: Int, value: (Int) -> String?, nowMillis now: Int64, withPrevious: Bool,
        salts: SaltTable, options: RawUIDOptions, _ deliver: (Int, MappedIdentity) -> Void
    ) {
        var chunk = [ChunkedIdentity]()
        chunk.reserveCapacity(Self.mapChunkSize)
        withUnsafeTemporaryAllocation(of: FirstLevelHashKey.self, capacity: Self.mapChunkSize) { keys in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: Self.mapChunkSize) { positions in
                var chunkStart = 0
                while chunkStart < count {
                    let chunkEnd = chunkStart + min(Self.mapChunkSize, count - chunkStart)
                    chunk.removeAll(keepingCapacity: true)
                    var hashedCount = 0
                    for index in chunkStart..<chunkEnd {
                        guard let (flh, type) = value(index).flatMap({ hashForMapping(kind: kind, value: $0, salts: salts) }) else {
                            chunk.append(.answered(.invalidIdentifier))
                            continue
                        }
                        let key = FirstLevelHashKey(flh)
                        if hashedCount < keys.count, let key {
                            keys.initializeElement(at: hashedCount, to: key)
                            hashedCount += 1
                        }
                        chunk.append(.hashed(firstLevelHash: flh, key: key, type: type))
                    }
                    optOuts.prefetch(firstLevelHashes: UnsafeBufferPointer(rebasing: keys[0..<hashedCount]))
                    var lookups = 0
                    for offset in chunk.indices {
                        guard case .hashed(let flh, let key, let type) = chunk[offset] else { continue }
                        guard let position = bucketForMapping(firstLevelHash: flh, key: key, type: type, salts: salts) else {
                            chunk[offset] = .answered(.optOut)
                            continue
                        }
                        chunk[offset] = .inBucket(position: position, firstLevelHash: flh, type: type)
                        if lookups < positions.count {
                            positions[lookups] = position
                            lookups += 1
                        }
                    }
                    let chunkPositions = UnsafeBufferPointer(rebasing: positions[0..<lookups])
                    salts.prefetchBuckets(at: chunkPositions)
                    salts.prefetchSalts(at: chunkPositions, previousAsOfMillis: withPrevious ? now : nil)
                    for (offset, identity) in chunk.enumerated() {
                        switch identity {
                        case .answered(let outcome): deliver(chunkStart + offset, outcome)
                        case .inBucket(let position, let flh, let type):
                            deliver(chunkStart + offset, mapInBucket(
                                at: position, firstLevelHash: flh, type: type, nowMillis: now, withPrevious: withPrevious, salts: salts, options: options
                            ))
                        case .hashed: continue   // never: step 2 moved every hashed identity on
                        }
                    }
                    chunkStart = chunkEnd
                }
            }
        }
    }

    /// An identity of a chunk, as `mapEach` moves it along (its hashes inline: nothing on the heap).
    enum ChunkedIdentity {
        case answered(MappedIdentity)
        case hashed(firstLevelHash: InlineBytes, key: FirstLevelHashKey?, type: IdentityType)
        case inBucket(position: Int, firstLevelHash: InlineBytes, type: IdentityType)
    }

    /// The first-level hash and type; nil for an invalid identifier.
    func hashForMapping(kind: IdentityInputKind, value: String, salts: borrowing SaltTable) -> (firstLevelHash: InlineBytes, type: IdentityType)? {
        guard let hash = IdentityHash(kind: kind, value: value) else { return nil }
        return (HashChain.firstLevelHash(identityHash: hash.hash, firstLevelSalt: salts.firstLevelSalt), hash.type)
    }

    /// The salt bucket's position; nil for an identity that opted out. `key` is the first-level
    /// hash as the opt-out index reads it (always there: a digest is 32 bytes).
    func bucketForMapping(firstLevelHash flh: InlineBytes, key: FirstLevelHashKey?, type: IdentityType, salts: borrowing SaltTable) -> Int? {
        if let key, isOptedOut(type: type, firstLevelHash: key, forRefresh: false) { return nil }
        return salts.bucketIndex(firstLevelHash: flh)
    }

    func mapInBucket(
        at position: Int, firstLevelHash flh: InlineBytes, type: IdentityType, nowMillis now: Int64, withPrevious: Bool,
        salts: borrowing SaltTable, options: RawUIDOptions
    ) -> MappedIdentity {
        // The bucket's salts are read in place (`withBucketSalts`): copying them was a quarter of a map.
        salts.withBucketSalts(at: position) { bucket in
            guard let current = bucket.currentRawUID(firstLevelHash: flh, type: type, options: options) else { return .invalidIdentifier }
            return .mapped(
                current: current,
                previous: withPrevious ? bucket.previousRawUID(firstLevelHash: flh, type: type, options: options, asOfMillis: now) : nil,
                refreshFromMillis: SaltSchedule.mappingRefreshFrom(refreshFromMillis: bucket.refreshFromMillis, nowMillis: now),
                bucketID: bucket.id
            )
        }
    }

    public func batchSizeFailure(_ count: Int) -> OperatorFailure? {
        guard count > config.identityMapMaxBatchSize else { return nil }
        return .clientError("Request payload is too large: \(count) identifiers given, at most \(config.identityMapMaxBatchSize) per request")
    }

    /// Why a v3 request is refused before any identity is mapped; nil when it is valid. Only a
    /// request naming none of the four kinds is refused: empty or null arrays map to empty arrays.
    public func identityMapFailure(_ request: IdentityMapRequest) -> OperatorFailure? {
        guard !request.inputs.isEmpty else {
            return .clientError("Required Parameter Missing: one or more of [email, email_hash, phone, phone_hash] must be specified")
        }
        return batchSizeFailure(request.count)
    }

    /// Maps `values` (all of `kind`) in order and hands each outcome to `deliver` as it is made,
    /// for a caller that writes its answer as it goes: collected first, 5,000 outcomes were half a
    /// megabyte a request, written once and read once. Check `identityMapFailure` first.
    public func mapIdentities(kind: IdentityInputKind, values: [String], nowMillis now: Int64, _ deliver: (MappedIdentity) -> Void) {
        mapEach(kind: kind, count: values.count, value: { values[$0] }, nowMillis: now, withPrevious: true, salts: salts, options: config.rawUIDOptions) {
            deliver($1)
        }
    }

    public func mapIdentities(_ request: IdentityMapRequest, nowMillis now: Int64) -> Result<[IdentityInputKind: [MappedIdentity]], OperatorFailure> {
        if let failure = identityMapFailure(request) { return .failure(failure) }
        var results = [IdentityInputKind: [MappedIdentity]]()
        for (kind, values) in request.inputs {
            var mapped = [MappedIdentity]()
            mapped.reserveCapacity(values.count)
            mapIdentities(kind: kind, values: values, nowMillis: now) { mapped.append($0) }
            results[kind] = mapped
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
