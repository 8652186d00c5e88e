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

    func identityFields() -> IdentityFields {
        IdentityFields(email: field("email"), emailHash: field("email_hash"), phone: field("phone"), phoneHash: field("phone_hash"))
    }
}

/// Any JSON object, contents unread: for endpoints whose answer depends on no field.
struct AnyJSONObject: Decodable {
    init(from decoder: Decoder) throws {
        _ = try decoder.container(keyedBy: AnyKey.self)
    }
}

struct GeneratePayload: Decodable {
    let request: GenerateTokenRequest

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        request = GenerateTokenRequest(identity: container.identityFields(), tcfConsentString: container.field("tcf_consent_string"))
    }
}

struct ValidatePayload: Decodable {
    let request: ValidateTokenRequest

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        request = ValidateTokenRequest(token: container.field("token"), identity: container.identityFields())
    }
}

enum PayloadDecoding {
    /// (This message names no documentation host, so any scope gives it.)
    static let invalidJSON = OperatorFailure.clientError(EnvelopeError.invalidJSON.message(scope: .uid2))

    /// An absent payload reads as `{}` (the reference treats it as a null request object). A payload
    /// that is not a JSON object gets the envelope's "not valid json" error; a JSON object of the
    /// wrong shape gets `shapeError` (or the same error when the endpoint has none of its own).
    static func decode<T: Decodable>(_ type: T.Type, from payload: Data, shapeError: OperatorFailure? = nil) -> Result<T, OperatorFailure> {
        let data = payload.isEmpty ? Data("{}".utf8) : payload
        if let value = try? JSONDecoder().decode(T.self, from: data) { return .success(value) }
        let isObject = (try? JSONSerialization.jsonObject(with: data)) is [String: Any]
        return .failure(isObject ? (shapeError ?? invalidJSON) : invalidJSON)
    }
}
