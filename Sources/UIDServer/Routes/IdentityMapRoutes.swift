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

    static let kinds: [IdentityInputKind] = [.email, .emailHash, .phone, .phoneHash]

    func mapV3(_ request: Request) async -> Response {
        await endpoint.respond(to: request, roles: [.mapper]) { call in
            let payload = try call.decode(MapV3Payload.self, shapeError: APIResponse.clientError("Incorrect request format"))
            switch call.snapshot.mapIdentities(IdentityMapRequest(inputs: payload.inputs), nowMillis: call.nowMillis) {
            case .failure(let failure):
                return .failure(APIResponse.failure(failure))
            case .success(let results):
                RequestObservation.current?.identityMappedV3(results)
                return .jsonBytes(MapV3Body(results: results).responseJSON())
            }
        }
    }

    func mapV2(_ request: Request) async -> Response {
        await endpoint.respond(to: request, roles: [.mapper]) { call in
            let payload = try call.decode(MapV2Payload.self)
            let snapshot = call.snapshot
            var candidates = Self.kinds
            if !snapshot.config.phoneSupport { candidates = [.email, .emailHash] }
            for kind in candidates {
                if case .notAnArray = payload.fields[kind] { return .failure(APIResponse.clientError("\(kind.fieldName) must be an array")) }
                if case .notStrings = payload.fields[kind] { return .failure(APIResponse.clientError("\(kind.fieldName) must be an array of strings")) }
            }
            let present = candidates.compactMap { kind -> (IdentityInputKind, [MapInput])? in
                guard case .values(let values) = payload.fields[kind] else { return nil }
                return (kind, values)
            }
            let nonEmpty = present.filter { !$0.1.isEmpty }
            guard !present.isEmpty, nonEmpty.count <= 1 else {
                return .failure(APIResponse.clientError("Required Parameter Missing: exactly one of [email, email_hash, phone, phone_hash] must be specified"))
            }
            guard let (kind, values) = nonEmpty.first else {
                return .json(try JSONCoding.encoder.encode(Envelope.success(MapV2Body(mapped: [], unmapped: nil))))
            }
            if let failure = snapshot.batchSizeFailure(values.count) { return .failure(APIResponse.failure(failure)) }
            var mapped = [MapV2Body.Mapped]()
            var unmapped = [MapV2Body.Unmapped]()
            for value in values {
                guard case .string(let text) = value else {
                    unmapped.append(.init(identifier: "null", reason: "invalid identifier"))
                    continue
                }
                switch snapshot.mapIdentity(kind: kind, value: text, nowMillis: call.nowMillis) {
                case .mapped(let current, _, _, let bucketID):
                    mapped.append(.init(identifier: text, advertising_id: Base64.encode(current), bucket_id: snapshot.publicBucketID(bucketID)))
                case .optOut:
                    unmapped.append(.init(identifier: text, reason: "optout"))
                case .invalidIdentifier:
                    unmapped.append(.init(identifier: text, reason: "invalid identifier"))
                }
            }
            let optedOut = unmapped.count { $0.reason == "optout" }
            RequestObservation.current?.identityMapped(
                path: "/v2/identity/map", inputs: [(kind.fieldName, values.count)], invalid: unmapped.count - optedOut, optedOut: optedOut
            )
            return .json(try JSONCoding.encoder.encode(Envelope.success(MapV2Body(mapped: mapped, unmapped: unmapped.isEmpty ? nil : unmapped))))
        }
    }

    func buckets(_ request: Request) async -> Response {
        await endpoint.respond(to: request, roles: [.mapper]) { call in
            let payload = try call.decode(BucketsPayload.self)
            guard let since = payload.since else { return .failure(APIResponse.clientError("missing parameter since_timestamp")) }
            guard case .string(let text) = since, let millis = UTCDateTime.parseMillis(text) else {
                return .failure(APIResponse.clientError("invalid date, must conform to ISO 8601"))
            }
            let buckets = call.snapshot.bucketsUpdated(sinceMillis: millis).map {
                BucketBody(bucket_id: $0.bucketID, last_updated: UTCDateTime.format(millis: $0.lastUpdatedMillis))
            }
            return .json(try JSONCoding.encoder.encode(Envelope.success(buckets)))
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
        let known = Dictionary(uniqueKeysWithValues: IdentityMapRoutes.kinds.map { ($0.fieldName, $0) })
        for key in container.allKeys {
            guard let kind = known[key.stringValue] else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "unknown key")
            }
            // null counts as an empty array: the kind was named, so the request is not "missing" it.
            inputs[kind] = try container.decodeNil(forKey: key) ? [] : container.decode([String].self, forKey: key)
        }
        self.inputs = inputs
    }
}

/// v2 is lenient about unknown keys and reports shape errors per key.
struct MapV2Payload: Decodable {
    enum Field {
        case values([MapInput])
        case notAnArray
        case notStrings
    }

    let fields: [IdentityInputKind: Field]

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        var fields = [IdentityInputKind: Field]()
        for kind in IdentityMapRoutes.kinds {
            let key = AnyKey(kind.fieldName)
            // A null value is the same as an absent key (the reference reads both as "not given").
            guard container.contains(key), (try? container.decodeNil(forKey: key)) != true else { continue }
            guard var array = try? container.nestedUnkeyedContainer(forKey: key) else {
                fields[kind] = .notAnArray
                continue
            }
            var values = [MapInput]()
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
        self.fields = fields
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

    /// Written directly (`ResponseJSON`): through `JSONEncoder`, 5,000 results cost more than mapping them.
    func responseJSON() -> [UInt8] {
        let count = results.values.reduce(0) { $0 + $1.count }
        var json = ResponseJSON(capacity: 64 + count * 120)
        json.literal(#"{"status":"success","body":{"#)
        for (position, kind) in IdentityMapRoutes.kinds.enumerated() {
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
        return json.bytes
    }
}

struct MapV2Body: Encodable {
    struct Mapped: Encodable {
        let identifier: String
        let advertising_id: String
        let bucket_id: String
    }

    struct Unmapped: Encodable {
        let identifier: String
        let reason: String
    }

    let mapped: [Mapped]
    let unmapped: [Unmapped]?
}

struct BucketBody: Encodable {
    let bucket_id: String
    let last_updated: String
}
