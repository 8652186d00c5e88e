import Foundation
import Hummingbird
import UIDOperatorCore
import UIDProtocol

/// `/v3/identity/map`, `/v2/identity/map`, `/v2/identity/buckets` (MAPPER).
struct IdentityMapRoutes: Sendable {
    let endpoint: EncryptedEndpoint

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v3/identity/map") { request, _ in await mapV3(request) }
        router.post("/v2/identity/map") { request, _ in await mapV2(request) }
        router.post("/v2/identity/buckets") { request, _ in await buckets(request) }
    }

    func mapV3(_ request: Request) async -> Response {
        await endpoint.respondOnBatchPool(to: request, roles: [.mapper]) { call in
            let payload = try call.decode(MapV3Payload.self, shapeError: .clientError("Incorrect request format"))
            let request = IdentityMapRequest(inputs: payload.inputs)
            if let failure = call.snapshot.identityMapFailure(request) { throw failure }
            // Mapped while the answer is written: no array of outcomes in between.
            let body = MapV3Body(mapping: request, on: call.snapshot, nowMillis: call.nowMillis)
            return .jsonWriter(capacity: body.capacity) { json in
                let tally = body.write(into: &json)
                RequestObservation.current?.identityMappedV3(tally)
            }
        }
    }

    func mapV2(_ request: Request) async -> Response {
        await endpoint.respondOnBatchPool(to: request, roles: [.mapper]) { call in
            let payload = try call.decode(MapV2Payload.self)
            let bucketIDs = call.snapshot.bucketIDEncoder
            guard let (kind, values) = try call.snapshot.identityMapV2Input(payload.request).get() else {
                return .jsonBytes(MapV2Body(result: IdentityMapV2Result(), bucketIDs: bucketIDs).responseJSON())
            }
            // Mapped while the answer is written, like v3.
            let body = MapV2Body(mapping: kind, values: values, on: call.snapshot, nowMillis: call.nowMillis)
            return .jsonWriter(capacity: body.capacity) { json in
                let tally = body.write(into: &json)
                RequestObservation.current?.identityMapped(
                    path: "/v2/identity/map", inputs: [(kind.fieldName, values.count)], invalid: tally.invalid, optedOut: tally.optedOut
                )
            }
        }
    }

    func buckets(_ request: Request) async -> Response {
        await endpoint.respondOnBatchPool(to: request, roles: [.mapper]) { call in
            let payload = try call.decode(BucketsPayload.self)
            guard let since = payload.since else { throw OperatorFailure.clientError("missing parameter since_timestamp") }
            guard case .string(let text) = since, let millis = UTCDateTime.parseMillis(text) else {
                throw OperatorFailure.clientError("invalid date, must conform to ISO 8601")
            }
            return .jsonBytes(BucketAnswers.shared.responseJSON(for: call.snapshot, sinceMillis: millis))
        }
    }
}

// MARK: - Request payloads

/// v3 is strict, like the reference's mapper: only the four keys, each null or an array of strings.
struct MapV3Payload: Decodable {
    let inputs: [IdentityInputKind: [String]]

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        var inputs = [IdentityInputKind: [String]]()
        let known = Dictionary(uniqueKeysWithValues: IdentityInputKind.allCases.map { ($0.fieldName, $0) })
        for key in container.allKeys {
            guard let kind = known[key.stringValue] else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "unknown key")
            }
            // null counts as an empty array: the kind was named, so the request is not "missing" it.
            inputs[kind] = try container.decodeNil(forKey: key) ? [] : Self.strings(container.nestedUnkeyedContainer(forKey: key))
        }
        self.inputs = inputs
    }

    /// The array's strings (anything else throws). Element by element, this decodes 5,000 emails in
    /// about 40 % of the time `decode([String].self)` takes.
    private static func strings(_ array: UnkeyedDecodingContainer) throws -> [String] {
        var array = array
        var strings = [String]()
        strings.reserveCapacity(array.count ?? 0)
        while !array.isAtEnd { strings.append(try array.decode(String.self)) }
        return strings
    }
}

/// v2 is lenient about unknown keys and reports shape errors per key.
struct MapV2Payload: Decodable {
    let request: IdentityMapV2Request

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        var fields = [IdentityInputKind: IdentityMapV2Request.Field]()
        for kind in IdentityInputKind.allCases {
            let key = AnyKey(kind.fieldName)
            // A null value is the same as an absent key (the reference reads both as "not given").
            guard container.contains(key), (try? container.decodeNil(forKey: key)) != true else { continue }
            guard var array = try? container.nestedUnkeyedContainer(forKey: key) else {
                fields[kind] = .notAnArray
                continue
            }
            var values = [MapInput]()
            values.reserveCapacity(array.count ?? 0)
            var valid = true
            while !array.isAtEnd {
                if (try? array.decodeNil()) == true {
                    values.append(.null)
                } else if let text = try? array.decode(String.self) {
                    values.append(.string(text))
                } else {
                    valid = false
                    break
                }
            }
            fields[kind] = valid ? .values(values) : .notStrings
        }
        request = IdentityMapV2Request(fields: fields)
    }
}

struct BucketsPayload: Decodable {
    let since: JSONField?

    init(from decoder: Decoder) throws {
        let field = try decoder.container(keyedBy: AnyKey.self).field("since_timestamp")
        since = field.isProvided ? field : nil
    }
}

// MARK: - Response bodies

/// `{"status":"success","body":{"email":[{"u":…,"p":…,"r":…}|{"e":…}, …], …}}`, every kind present.
struct MapV3Body: Sendable {
    /// How many identities each kind has.
    let counts: [IdentityInputKind: Int]
    /// Hands each outcome of a kind to its second argument, in order.
    let outcomes: @Sendable (IdentityInputKind, (MappedIdentity) -> Void) -> Void

    /// The answer to `request`, each identity mapped as the answer reaches it.
    init(mapping request: IdentityMapRequest, on snapshot: OperatorSnapshot, nowMillis: Int64) {
        counts = request.inputs.mapValues(\.count)
        outcomes = { kind, deliver in
            guard let values = request.inputs[kind] else { return }
            snapshot.mapIdentities(kind: kind, values: values, nowMillis: nowMillis, deliver)
        }
    }

    /// The answer for outcomes already made.
    init(results: [IdentityInputKind: [MappedIdentity]]) {
        counts = results.mapValues(\.count)
        outcomes = { kind, deliver in results[kind]?.forEach(deliver) }
    }

    /// About the answer's length: 119 bytes a mapped identity.
    var capacity: Int { 64 + counts.values.reduce(0, +) * 120 }

    /// The longest mapped identity: `,{"u":…,"p":…,"r":…}` with two raw UIDs as long as `InlineBytes` holds.
    static let mappedMaxLength = 17 + 2 * JSONPiece.base64StringLength(InlineBytes.capacity) + JSONPiece.integerMaxLength

    /// What the answer held, for the request's metrics.
    struct Tally {
        var inputs: [(kind: String, count: Int)] = []
        var optedOut = 0
        var invalid = 0
    }

    /// Written directly (`ResponseJSON`): through `JSONEncoder`, 5,000 results cost more than mapping them.
    func responseJSON() -> [UInt8] {
        var json = ResponseJSON(capacity: capacity)
        write(into: &json)
        return json.bytes
    }

    /// The answer appended to `json` (the route writes it straight into the response envelope).
    @discardableResult
    func write(into json: inout ResponseJSON) -> Tally {
        var tally = Tally()
        json.literal(#"{"status":"success","body":{"#)
        for (position, kind) in IdentityInputKind.allCases.enumerated() {
            if position > 0 { json.literal(",") }
            json.string(kind.fieldName)
            json.literal(":[")
            var index = 0
            outcomes(kind) { result in
                let separated = index > 0
                index += 1
                switch result {
                case .mapped(let current, let previous, let refreshFrom, _):
                    json.piece(maxLength: Self.mappedMaxLength) { piece in
                        if separated { piece.literal(",") }
                        piece.literal(#"{"u":"#)
                        current.withUnsafeBytes { piece.base64String($0) }
                        piece.literal(#","p":"#)
                        if let previous { previous.withUnsafeBytes { piece.base64String($0) } } else { piece.literal("null") }
                        piece.literal(#","r":"#)
                        piece.integer(refreshFrom / 1000)
                        piece.literal("}")
                    }
                    return
                case .optOut:
                    tally.optedOut += 1
                    if separated { json.literal(",") }
                    json.literal(#"{"e":"optout"}"#)
                case .invalidIdentifier:
                    tally.invalid += 1
                    if separated { json.literal(",") }
                    json.literal(#"{"e":"invalid identifier"}"#)
                }
            }
            if counts[kind] != nil { tally.inputs.append((kind.fieldName, index)) }
            json.literal("]")
        }
        json.literal("}}")
        return tally
    }
}

/// `{"status":"success","body":{"mapped":[{"identifier":…,"advertising_id":…,"bucket_id":…}, …],
/// "unmapped":[{"identifier":…,"reason":…}, …]}}`; `unmapped` is left out when empty, as the reference does.
struct MapV2Body: Sendable {
    /// How many identifiers the request has.
    let count: Int
    /// Hands each mapped identity (identifier, raw UID, bucket number) to the first closure in
    /// order, and each one not mapped to the second.
    let outcomes: @Sendable ((String, InlineBytes, Int64) -> Void, (IdentityMapV2Result.Unmapped) -> Void) -> Void
    /// Turns each mapped identity's bucket number into the public id the answer carries.
    let bucketIDs: PublicBucketIDEncoder

    /// The answer to a valid request, each identity mapped as the answer reaches it.
    init(mapping kind: IdentityInputKind, values: [MapInput], on snapshot: OperatorSnapshot, nowMillis: Int64) {
        count = values.count
        outcomes = { mapped, unmapped in
            snapshot.mapIdentitiesV2(kind: kind, values: values, nowMillis: nowMillis, mapped: mapped, unmapped: unmapped)
        }
        bucketIDs = snapshot.bucketIDEncoder
    }

    /// The answer for a result already made.
    init(result: IdentityMapV2Result, bucketIDs: PublicBucketIDEncoder) {
        count = result.mapped.count + result.unmapped.count
        outcomes = { mapped, unmapped in
            for entry in result.mapped { mapped(entry.identifier, entry.advertisingID, entry.bucketID) }
            result.unmapped.forEach(unmapped)
        }
        self.bucketIDs = bucketIDs
    }

    /// About the answer's length (an email of 20–30 characters makes a mapped entry of about 130 bytes).
    var capacity: Int { 64 + count * 150 }

    /// Identifiers not mapped, for the request's metrics.
    struct Tally {
        var optedOut = 0
        var invalid = 0
    }

    /// Written directly (`ResponseJSON`), like v3's answer; identifiers are the caller's text and are
    /// escaped by `JSONEncoder` when they need it.
    func responseJSON() -> [UInt8] {
        var json = ResponseJSON(capacity: capacity)
        write(into: &json)
        return json.bytes
    }

    /// The answer appended to `json` (the route writes it straight into the response envelope).
    /// Mapped identities are written as they come; those not mapped (few, as a rule) are kept
    /// for the array after them.
    @discardableResult
    func write(into json: inout ResponseJSON) -> Tally {
        var unmapped = [IdentityMapV2Result.Unmapped]()
        var written = 0
        // A bucket id is the prefix followed by Hashids' letters and digits: whether ids need
        // escaping is the prefix's answer, taken once rather than per identity.
        var prefix = bucketIDs.prefix
        let plainBucketIDs = prefix.withUTF8(ResponseJSON.needsNoEscaping)
        json.literal(#"{"status":"success","body":{"mapped":["#)
        outcomes({ identifier, advertisingID, bucketID in
            Self.writeMapped(
                identifier: identifier, advertisingID: advertisingID, bucketID: bucketID, separated: written > 0,
                bucketIDs: bucketIDs, plainBucketIDs: plainBucketIDs, into: &json
            )
            written += 1
        }, { unmapped.append($0) })
        json.literal("]")
        var tally = Tally()
        if !unmapped.isEmpty {
            json.literal(#","unmapped":["#)
            for (index, entry) in unmapped.enumerated() {
                if index > 0 { json.literal(",") }
                json.literal(#"{"identifier":"#)
                json.string(entry.identifier)
                json.literal(#","reason":"#)
                json.string(entry.reason)
                json.literal("}")
                if entry.reason == "optout" { tally.optedOut += 1 } else { tally.invalid += 1 }
            }
            json.literal("]")
        }
        json.literal("}}")
        return tally
    }

    /// One mapped identity, composed as one piece when neither its identifier nor its bucket id
    /// needs escaping (the rule: emails, hashes and our own ids), part by part otherwise.
    /// `plainBucketIDs`: every id `bucketIDs` writes needs no escaping (see `write(into:)`).
    private static func writeMapped(
        identifier: String, advertisingID: InlineBytes, bucketID: Int64, separated: Bool, bucketIDs: PublicBucketIDEncoder,
        plainBucketIDs: Bool, into json: inout ResponseJSON
    ) {
        var identifier = identifier
        identifier.withUTF8 { identifier in
            bucketIDs.withUTF8(bucketID) { bucket in
                guard plainBucketIDs, ResponseJSON.needsNoEscaping(identifier) else {
                    if separated { json.literal(",") }
                    json.literal(#"{"identifier":"#)
                    json.string(utf8: identifier)
                    json.literal(#","advertising_id":"#)
                    json.base64String(advertisingID)
                    json.literal(#","bucket_id":"#)
                    json.string(utf8: bucket)
                    json.literal("}")
                    return
                }
                // `,{"identifier":` `,"advertising_id":` `,"bucket_id":` `}`: 47 bytes, and two quoted texts.
                let length = 47 + (identifier.count + 2) + JSONPiece.base64StringLength(advertisingID.count) + (bucket.count + 2)
                json.piece(maxLength: length) { piece in
                    if separated { piece.literal(",") }
                    piece.literal(#"{"identifier":"#)
                    piece.plainString(utf8: identifier)
                    piece.literal(#","advertising_id":"#)
                    advertisingID.withUnsafeBytes { piece.base64String($0) }
                    piece.literal(#","bucket_id":"#)
                    piece.plainString(utf8: bucket)
                    piece.literal("}")
                }
            }
        }
    }
}

struct BucketBody: Encodable {
    let bucket_id: String
    let last_updated: String
}
