import Foundation
import Hummingbird
import UIDOperatorCore
import UIDProtocol

/// Reads request JSON into `JSONField`s, so a wrong type is a clear 400 instead of a crash.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension KeyedDecodingContainer where Key == AnyKey {
    func field(_ name: String) -> JSONField {
        let key = AnyKey(name)
        guard contains(key) else { return .absent }
        if (try? decodeNil(forKey: key)) == true { return .null }
        if let value = try? decode(String.self, forKey: key) { return .string(value) }
        return .notAString
    }
}

/// Any JSON object, contents unread: for endpoints whose answer depends on no field.
struct AnyJSONObject: Decodable {
    init(from decoder: Decoder) throws {
        _ = try decoder.container(keyedBy: AnyKey.self)
    }
}

/// A payload read from a JSON object's top-level string fields alone (token requests): parsed
/// with `JSONSerialization`, which costs about a third of what `JSONDecoder` does for these small
/// bodies, with `JSONDecoder` as the fallback for anything it rejects, so every answer stays the same.
protocol ObjectPayload: Decodable {
    init(fields: some PayloadFields)
}

/// Top-level fields of a request object, from either parser.
protocol PayloadFields {
    func field(_ name: String) -> JSONField
}

extension PayloadFields {
    func identityFields() -> IdentityFields {
        IdentityFields(email: field("email"), emailHash: field("email_hash"), phone: field("phone"), phoneHash: field("phone_hash"))
    }
}

extension KeyedDecodingContainer: PayloadFields where Key == AnyKey {}

/// `JSONSerialization`'s object: `NSNull` for null, `String` for text, anything else is not text.
struct SerializedObjectFields: PayloadFields {
    let object: [String: Any]

    func field(_ name: String) -> JSONField {
        guard let value = object[name] else { return .absent }
        if value is NSNull { return .null }
        if let text = value as? String { return .string(text) }
        return .notAString
    }
}

extension ObjectPayload {
    init(from decoder: Decoder) throws {
        self.init(fields: try decoder.container(keyedBy: AnyKey.self))
    }
}

struct GeneratePayload: ObjectPayload {
    let request: GenerateTokenRequest

    init(fields: some PayloadFields) {
        request = GenerateTokenRequest(identity: fields.identityFields(), tcfConsentString: fields.field("tcf_consent_string"))
    }
}

struct ValidatePayload: ObjectPayload {
    let request: ValidateTokenRequest

    init(fields: some PayloadFields) {
        request = ValidateTokenRequest(token: fields.field("token"), identity: fields.identityFields())
    }
}

enum PayloadDecoding {
    /// (This message names no documentation host, so any scope gives it.)
    static let invalidJSON = OperatorFailure.clientError(EnvelopeError.invalidJSON.message(scope: .uid2))

    /// An absent payload reads as `{}` (the reference treats it as a null request object). A payload
    /// that is not a JSON object gets the envelope's "not valid json" error; a JSON object of the
    /// wrong shape gets `shapeError` (or the same error when the endpoint has none of its own).
    static func decode<T: Decodable>(_ type: T.Type, from payload: Data, shapeError: OperatorFailure? = nil) -> Result<T, OperatorFailure> {
        decodedByDecoder(type, from: payload, shapeError: shapeError)
    }

    static func decodedByDecoder<T: Decodable>(_ type: T.Type, from payload: Data, shapeError: OperatorFailure?) -> Result<T, OperatorFailure> {
        let data = payload.isEmpty ? Data("{}".utf8) : payload
        if let value = try? JSONDecoder().decode(T.self, from: data) { return .success(value) }
        let isObject = (try? JSONSerialization.jsonObject(with: data)) is [String: Any]
        return .failure(isObject ? (shapeError ?? invalidJSON) : invalidJSON)
    }

    /// As above; an object `JSONSerialization` reads is taken field by field, and anything it does
    /// not read goes the `Decodable` way (same answers, including the errors).
    static func decode<T: ObjectPayload>(_ type: T.Type, from payload: Data, shapeError: OperatorFailure? = nil) -> Result<T, OperatorFailure> {
        if payload.isEmpty { return .success(T(fields: SerializedObjectFields(object: [:]))) }
        if let object = (try? JSONSerialization.jsonObject(with: payload)) as? [String: Any] {
            return .success(T(fields: SerializedObjectFields(object: object)))
        }
        return decodedByDecoder(type, from: payload, shapeError: shapeError)
    }
}
