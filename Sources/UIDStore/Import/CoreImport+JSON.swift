import Foundation
import UIDOperatorCore
import UIDProtocol

extension CoreImport {
    /// A JSON document as plain values, so every field can be checked with an error naming the file
    /// and entry (`Codable` models would throw at the first surprise, with a coding path instead).
    indirect enum JSONValue: Decodable, Sendable {
        case null
        case bool(Bool)
        case integer(Int64)
        case number(Double)
        case string(String)
        case array([JSONValue])
        case object([String: JSONValue])

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let value = try? container.decode(Bool.self) {
                self = .bool(value)
            } else if let value = try? container.decode(Int64.self) {
                self = .integer(value)
            } else if let value = try? container.decode(Double.self) {
                self = .number(value)
            } else if let value = try? container.decode(String.self) {
                self = .string(value)
            } else if let value = try? container.decode([JSONValue].self) {
                self = .array(value)
            } else {
                self = .object(try container.decode([String: JSONValue].self))
            }
        }

        var typeName: String {
            switch self {
            case .null: "null"
            case .bool: "a boolean"
            case .integer, .number: "a number"
            case .string: "a string"
            case .array: "an array"
            case .object: "an object"
            }
        }

        var compactText: String {
            switch self {
            case .null: "null"
            case .bool(let value): String(value)
            case .integer(let value): String(value)
            case .number(let value): String(value)
            case .string(let value): "\"\(value)\""
            case .array: "[…]"
            case .object: "{…}"
            }
        }
    }

    /// A JSON object with typed accessors whose errors say where the value was.
    struct JSONObject {
        let members: [String: JSONValue]
        let file: String
        let label: String

        func with(label: String) -> JSONObject { JSONObject(members: members, file: file, label: label) }

        func fail(_ message: String) -> CoreImport.Failure {
            CoreImport.Failure(file: file, message: "\(label): \(message)")
        }

        /// The value, treating JSON null like an absent member.
        private func present(_ key: String) -> JSONValue? {
            switch members[key] {
            case nil, .null?: nil
            case let value?: value
            }
        }

        private func required(_ key: String) throws -> JSONValue {
            guard let value = present(key) else { throw fail("missing \"\(key)\"") }
            return value
        }

        func string(_ key: String) throws -> String {
            guard case .string(let text) = try required(key) else { throw fail("\"\(key)\" must be a string") }
            return text
        }

        func optionalString(_ key: String) throws -> String? {
            guard let value = present(key) else { return nil }
            guard case .string(let text) = value else { throw fail("\"\(key)\" must be a string, not \(value.typeName)") }
            return text
        }

        func int64(_ key: String) throws -> Int64 {
            try integer(try required(key), key)
        }

        func optionalInt64(_ key: String) throws -> Int64? {
            try present(key).map { try integer($0, key) }
        }

        func int32(_ key: String) throws -> Int32 {
            try narrow(try int64(key), key)
        }

        func optionalInt32(_ key: String) throws -> Int32? {
            try optionalInt64(key).map { try narrow($0, key) }
        }

        private func narrow(_ value: Int64, _ key: String) throws -> Int32 {
            guard let narrowed = Int32(exactly: value) else { throw fail("\"\(key)\" \(value) is out of range") }
            return narrowed
        }

        private func integer(_ value: JSONValue, _ key: String) throws -> Int64 {
            switch value {
            case .integer(let number):
                return number
            case .number(let number):
                guard let exact = Int64(exactly: number) else { throw fail("\"\(key)\" must be an integer, not \(number)") }
                return exact
            default:
                throw fail("\"\(key)\" must be an integer, not \(value.typeName)")
            }
        }

        func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
            guard let value = present(key) else { return defaultValue }
            guard case .bool(let flag) = value else { throw fail("\"\(key)\" must be true or false, not \(value.typeName)") }
            return flag
        }

        /// Decoded as Java's `Base64.getDecoder()` would (non-zero trailing bits tolerated).
        func base64(_ key: String) throws -> [UInt8] {
            let text = try string(key)
            guard let bytes = Base64.decode(text) else { throw fail("\"\(key)\" is not valid base64") }
            return bytes
        }

        func array(_ key: String) throws -> [JSONValue] {
            guard case .array(let items) = try required(key) else { throw fail("\"\(key)\" must be an array") }
            return items
        }

        /// nil when absent or null.
        func stringArray(_ key: String) throws -> [String]? {
            guard let value = present(key) else { return nil }
            guard case .array(let items) = value else { throw fail("\"\(key)\" must be an array of strings, not \(value.typeName)") }
            return try items.enumerated().map { index, item in
                guard case .string(let text) = item else { throw fail("\"\(key)\"[\(index)] must be a string, not \(item.typeName)") }
                return text
            }
        }

        /// nil when absent or null (the reference's "no restriction" for `allowed_sites`).
        func int32Array(_ key: String) throws -> [Int32]? {
            guard let value = present(key) else { return nil }
            guard case .array(let items) = value else { throw fail("\"\(key)\" must be null or an array of integers, not \(value.typeName)") }
            return try items.enumerated().map { index, item in
                try narrow(try integer(item, "\(key)[\(index)]"), "\(key)[\(index)]")
            }
        }

        func optionalObject(_ key: String) throws -> JSONObject? {
            guard let value = present(key) else { return nil }
            guard case .object(let members) = value else { throw fail("\"\(key)\" must be an object, not \(value.typeName)") }
            return JSONObject(members: members, file: file, label: label == "metadata" ? key : "\(label).\(key)")
        }
    }
}
