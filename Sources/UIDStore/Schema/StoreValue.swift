import Foundation
import UIDProtocol

/// One column's value as both backends store it. Flags are INTEGER 0/1 (as SQLite stores
/// booleans), lists are JSON text (e.g. roles `["GENERATOR"]`), secrets base64 text, and salts
/// and their key material text made from their bytes.
enum StoreValue: Sendable, Equatable {
    /// INTEGER: ids and flags.
    case int32(Int32?)
    /// BIGINT: epoch values, salt bucket ids and opt-out times.
    case int64(Int64?)
    case text(String?)
    /// TEXT made from bytes (`String(decoding:as: UTF8.self)`): salts and their key material.
    case utf8([UInt8]?)
    /// BLOB / BYTEA.
    case blob([UInt8]?)

    static func flag(_ value: Bool) -> StoreValue { .int32(value ? 1 : 0) }

    static func base64(_ bytes: [UInt8]) -> StoreValue { .text(Base64.encode(bytes)) }

    static func json(_ values: [some Encodable]) -> StoreValue { .text(JSONList.encode(values)) }
}

/// Reads one stored row's columns by position, whatever the driver (GRDB's `Row`, PostgresNIO's `PostgresRandomAccessRow`).
protocol StoreRowReader {
    func int32(_ column: Int) throws -> Int32?
    func int64(_ column: Int) throws -> Int64?
    func text(_ column: Int) throws -> String?
    func blob(_ column: Int) throws -> [UInt8]?
}

extension StoreRowReader {
    /// A NOT NULL INTEGER column.
    func int32(required column: Int) throws -> Int32 { try present(try int32(column), column) }
    /// A NOT NULL BIGINT column.
    func int64(required column: Int) throws -> Int64 { try present(try int64(column), column) }
    /// A NOT NULL TEXT column.
    func text(required column: Int) throws -> String { try present(try text(column), column) }
    /// A NOT NULL flag column.
    func flag(_ column: Int) throws -> Bool { try int32(required: column) != 0 }

    private func present<T>(_ value: T?, _ column: Int) throws -> T {
        guard let value else { throw StoreError.malformedRow("column \(column) is NULL") }
        return value
    }
}

/// Lists in TEXT columns: JSON arrays.
enum JSONList {
    static func encode<T: Encodable>(_ values: [T]) -> String {
        String(decoding: (try? JSONEncoder().encode(values)) ?? Data("[]".utf8), as: UTF8.self)
    }

    /// Strings, or numbers as strings (a list written by another tool); empty when neither.
    static func strings(_ json: String) -> [String] {
        if let strings = try? JSONDecoder().decode([String].self, from: Data(json.utf8)) { return strings }
        if let numbers = try? JSONDecoder().decode([Int64].self, from: Data(json.utf8)) { return numbers.map(String.init) }
        return []
    }
}
