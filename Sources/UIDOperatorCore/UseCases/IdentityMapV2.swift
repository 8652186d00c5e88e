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
        public var advertisingID: [UInt8]
        /// The salt bucket's number; the answer carries its public id (`bucketIDEncoder`), written
        /// with the answer rather than kept as a string per identity.
        public var bucketID: Int64

        public init(identifier: String, advertisingID: [UInt8], bucketID: Int64) {
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
    public func mapIdentitiesV2(_ request: IdentityMapV2Request, nowMillis now: Int64) -> Result<IdentityMapV2Result, OperatorFailure> {
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
        guard let (kind, values) = nonEmpty.first else { return .success(IdentityMapV2Result()) }
        if let failure = batchSizeFailure(values.count) { return .failure(failure) }
        var result = IdentityMapV2Result()
        result.kind = kind
        result.mapped.reserveCapacity(values.count)
        let salts = salts
        let options = config.rawUIDOptions
        func text(at index: Int) -> String? {
            guard case .string(let text) = values[index] else { return nil }
            return text
        }
        mapEach(kind: kind, count: values.count, value: text(at:), nowMillis: now, withPrevious: false, salts: salts, options: options) { index, outcome in
            guard let text = text(at: index) else {
                result.unmapped.append(.init(identifier: "null", reason: "invalid identifier"))
                return
            }
            switch outcome {
            case .mapped(let current, _, _, let bucketID):
                result.mapped.append(.init(identifier: text, advertisingID: current, bucketID: bucketID))
            case .optOut:
                result.unmapped.append(.init(identifier: text, reason: "optout"))
            case .invalidIdentifier:
                result.unmapped.append(.init(identifier: text, reason: "invalid identifier"))
            }
        }
        return .success(result)
    }
}
