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
            let results = try call.snapshot.mapIdentities(IdentityMapRequest(inputs: payload.inputs), nowMillis: call.nowMillis).get()
            RequestObservation.current?.identityMappedV3(results)
            let body = MapV3Body(results: results)
            return .jsonWriter(capacity: body.capacity) { body.write(into: &$0) }
        }
    }

    func mapV2(_ request: Request) async -> Response {
        await endpoint.respondOnBatchPool(to: request, roles: [.mapper]) { call in
            let payload = try call.decode(MapV2Payload.self)
            let result = try call.snapshot.mapIdentitiesV2(payload.request, nowMillis: call.nowMillis).get()
            if let observation = RequestObservation.current, let kind = result.kind {
                let optedOut = result.unmapped.count { $0.reason == "optout" }
                observation.identityMapped(
                    path: "/v2/identity/map", inputs: [(kind.fieldName, result.mapped.count + result.unmapped.count)],
                    invalid: result.unmapped.count - optedOut, optedOut: optedOut
                )
            }
            let body = MapV2Body(result: result, bucketIDs: call.snapshot.bucketIDEncoder)
            return .jsonWriter(capacity: body.capacity) { body.write(into: &$0) }
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
struct MapV3Body {
    let results: [IdentityInputKind: [MappedIdentity]]

    /// About the answer's length: 119 bytes a mapped identity.
    var capacity: Int { 64 + results.values.reduce(0) { $0 + $1.count } * 120 }

    /// Written directly (`ResponseJSON`): through `JSONEncoder`, 5,000 results cost more than mapping them.
    func responseJSON() -> [UInt8] {
        var json = ResponseJSON(capacity: capacity)
        write(into: &json)
        return json.bytes
    }

    /// The answer appended to `json` (the route writes it straight into the response envelope).
    func write(into json: inout ResponseJSON) {
        json.literal(#"{"status":"success","body":{"#)
        for (position, kind) in IdentityInputKind.allCases.enumerated() {
            if position > 0 { json.literal(",") }
            json.string(kind.fieldName)
            json.literal(":[")
            for (index, result) in (results[kind] ?? []).enumerated() {
                if index > 0 { json.literal(",") }
                switch result {
                case .mapped(let current, let previous, let refreshFrom, _):
                    json.literal(#"{"u":"#)
                    json.base64String(current)
                    json.literal(#","p":"#)
                    if let previous { json.base64String(previous) } else { json.literal("null") }
                    json.literal(#","r":"#)
                    json.integer(refreshFrom / 1000)
                    json.literal("}")
                case .optOut:
                    json.literal(#"{"e":"optout"}"#)
                case .invalidIdentifier:
                    json.literal(#"{"e":"invalid identifier"}"#)
                }
            }
            json.literal("]")
        }
        json.literal("}}")
    }
}

/// `{"status":"success","body":{"mapped":[{"identifier":…,"advertising_id":…,"bucket_id":…}, …],
/// "unmapped":[{"identifier":…,"reason":…}, …]}}`; `unmapped` is left out when empty, as the reference does.
struct MapV2Body {
    let result: IdentityMapV2Result
    /// Turns each mapped identity's bucket number into the public id the answer carries.
    let bucketIDs: PublicBucketIDEncoder

    /// About the answer's length (an email of 20–30 characters makes a mapped entry of about 130 bytes).
    var capacity: Int { 64 + result.mapped.count * 150 + result.unmapped.count * 80 }

    /// Written directly (`ResponseJSON`), like v3's answer; identifiers are the caller's text and are
    /// escaped by `JSONEncoder` when they need it.
    func responseJSON() -> [UInt8] {
        var json = ResponseJSON(capacity: capacity)
        write(into: &json)
        return json.bytes
    }

    /// The answer appended to `json` (the route writes it straight into the response envelope).
    func write(into json: inout ResponseJSON) {
        json.literal(#"{"status":"success","body":{"mapped":["#)
        for (index, mapped) in result.mapped.enumerated() {
            if index > 0 { json.literal(",") }
            json.literal(#"{"identifier":"#)
            json.string(mapped.identifier)
            json.literal(#","advertising_id":"#)
            json.base64String(mapped.advertisingID)
            json.literal(#","bucket_id":"#)
            bucketIDs.withUTF8(mapped.bucketID) { json.string(utf8: $0) }
            json.literal("}")
        }
        json.literal("]")
        if !result.unmapped.isEmpty {
            json.literal(#","unmapped":["#)
            for (index, unmapped) in result.unmapped.enumerated() {
                if index > 0 { json.literal(",") }
                json.literal(#"{"identifier":"#)
                json.string(unmapped.identifier)
                json.literal(#","reason":"#)
                json.string(unmapped.reason)
                json.literal("}")
            }
            json.literal("]")
        }
        json.literal("}}")
    }
}

struct BucketBody: Encodable {
    let bucket_id: String
    let last_updated: String
}
