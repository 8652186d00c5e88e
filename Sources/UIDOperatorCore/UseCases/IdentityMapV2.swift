import UIDProtocol

/// `/v2/identity/map`: one kind of identifier, each answered by value. Lenient like the reference:
/// unknown keys are ignored, a null kind counts as absent, shape errors are reported per kind.
public struct IdentityMapV2Request: Sendable, Equatable {
    /// One kind's value as sent.
    public enum Field: Sendable, Equatable {
        case values([MapInput])
        case notAnArray
        /// An array holding something other than strings and nulls.
        case notStrings
    }

    /// The kinds the caller named (absent or null ones left out).
    public var fields: [IdentityInputKind: Field]

    public init(fields: [IdentityInputKind: Field]) {
        self.fields = fields
    }
}

/// The v2 answer: identifiers mapped, and those not mapped with the reason.
public struct IdentityMapV2Result: Sendable, Equatable {
    public struct Mapped: Sendable, Equatable {
        public var identifier: String
        /// The raw UID, held inline.
        public var advertisingID: InlineBytes
        /// The salt bucket's number; the answer carries its public id (`bucketIDEncoder`), written
        /// with the answer rather than kept as a string per identity.
        public var bucketID: Int64

        public init(identifier: String, advertisingID: InlineBytes, bucketID: Int64) {
            self.identifier = identifier
            self.advertisingID = advertisingID
            self.bucketID = bucketID
        }
    }

    public struct Unmapped: Sendable, Equatable {
        public var identifier: String
        /// `optout` or `invalid identifier`.
        public var reason: String
    }

    /// The kind that was mapped (nil when every named kind was empty).
    public var kind: IdentityInputKind?
    public var mapped: [Mapped] = []
    public var unmapped: [Unmapped] = []

    public init() {}
}

extension OperatorSnapshot {
    /// A valid request's kind and values (nil when every named kind was empty), or why it is refused.
    public func identityMapV2Input(_ request: IdentityMapV2Request) -> Result<(kind: IdentityInputKind, values: [MapInput])?, OperatorFailure> {
        let candidates: [IdentityInputKind] = config.phoneSupport ? IdentityInputKind.allCases : [.email, .emailHash]
        for kind in candidates {
            switch request.fields[kind] {
            case .notAnArray: return .failure(.clientError("\(kind.fieldName) must be an array"))
            case .notStrings: return .failure(.clientError("\(kind.fieldName) must be an array of strings"))
            case .values, nil: continue
            }
        }
        let present = candidates.compactMap { kind -> (IdentityInputKind, [MapInput])? in
            guard case .values(let values) = request.fields[kind] else { return nil }
            return (kind, values)
        }
        // Several kinds may be named as long as at most one has values.
        let nonEmpty = present.filter { !$0.1.isEmpty }
        guard !present.isEmpty, nonEmpty.count <= 1 else { return .failure(.exactlyOneIdentityKind) }
        guard let (kind, values) = nonEmpty.first else { return .success(nil) }
        if let failure = batchSizeFailure(values.count) { return .failure(failure) }
        return .success((kind, values))
    }

    /// Maps `values` (all of `kind`) in order: each identity mapped goes to `mapped` (identifier,
    /// raw UID, bucket number) as it is made, each one not mapped to `unmapped`. A caller writing
    /// its answer as it goes keeps no array of mapped identities.
    public func mapIdentitiesV2(
        kind: IdentityInputKind, values: [MapInput], nowMillis now: Int64,
        mapped: (String, InlineBytes, Int64) -> Void, unmapped: (IdentityMapV2Result.Unmapped) -> Void
    ) {
        func text(at index: Int) -> String? {
            guard case .string(let text) = values[index] else { return nil }
            return text
        }
        mapEach(kind: kind, count: values.count, value: text(at:), nowMillis: now, withPrevious: false, salts: salts, options: config.rawUIDOptions) { index, outcome in
            guard let text = text(at: index) else {
                unmapped(.init(identifier: "null", reason: "invalid identifier"))
                return
            }
            switch outcome {
            case .mapped(let current, _, _, let bucketID): mapped(text, current, bucketID)
            case .optOut: unmapped(.init(identifier: text, reason: "optout"))
            case .invalidIdentifier: unmapped(.init(identifier: text, reason: "invalid identifier"))
            }
        }
    }

    public func mapIdentitiesV2(_ request: IdentityMapV2Request, nowMillis now: Int64) -> Result<IdentityMapV2Result, OperatorFailure> {
        identityMapV2Input(request).map { input in
            var result = IdentityMapV2Result()
            guard let (kind, values) = input else { return result }
            result.kind = kind
            result.mapped.reserveCapacity(values.count)
            mapIdentitiesV2(kind: kind, values: values, nowMillis: now) {
                result.mapped.append(.init(identifier: $0, advertisingID: $1, bucketID: $2))
            } unmapped: {
                result.unmapped.append($0)
            }
            return result
        }
    }
}
