@preconcurrency import Crypto
import Foundation

/// The 388-character string handed to clients as `refresh_token`: the V3 refresh token and a fresh
/// `refresh_response_key`, sealed under the refresh key (docs/PROTOCOL.md#sealed-refresh-token). The response to a
/// refresh is encrypted with the key inside, so only the holder of the sealed token can read it.
public enum SealedRefreshToken {
    public static let textLength = 388

    public enum Failure: Error, Sendable, Equatable {
        case notBase64
        case unknownKey(Int32)
        case decryptionFailed
        case invalidPayload

        /// The reference's `client_error` message for each failure.
        public var message: String {
            switch self {
            case .notBase64: "Invalid body: Body is not valid base64."
            case .unknownKey(let id): "Invalid key: Generator of this token (Key ID: \(id)) does not exist."
            case .decryptionFailed: "Invalid data: Check encryption method and encryption key."
            case .invalidPayload: "Invalid format: Payload is not valid json or missing required data."
            }
        }
    }

    public struct Contents: Sendable {
        public var refreshToken: String
        /// Checked to be an AES key when the sealed token was opened.
        public var responseKey: SymmetricKey
    }

    /// A refresh request's token, and the key its answer is sealed with (nil: answered in clear).
    public struct RequestToken: Sendable {
        public var refreshToken: String
        public var responseKey: SymmetricKey?
    }

    /// Returns the sealed text and the base64 `refresh_response_key`.
    public static func seal(refreshToken: String, responseKey: [UInt8], scope: IdentityScope, refreshKey: KeysetKey) -> String {
        let keyText = Base64.encode(responseKey)
        // Both values are base64 (no characters needing escapes), so the compact JSON is exact.
        // Written as bytes straight into the sealed buffer: every token request seals one.
        var bytes = [UInt8]()
        bytes.reserveCapacity(5 + 48 + keyText.utf8.count + refreshToken.utf8.count + AESGCMKey.overhead)
        bytes.append(scope.rawValue << 4)
        bytes.appendBigEndian(refreshKey.id)
        // The key was validated when the snapshot loaded, so sealing cannot fail.
        try! refreshKey.aesGCM.seal(appendingTo: &bytes) { json in
            json.append(contentsOf: #"{"refresh_response_key":""#.utf8)
            json.append(contentsOf: keyText.utf8)
            json.append(contentsOf: #"","refresh_token":""#.utf8)
            json.append(contentsOf: refreshToken.utf8)
            json.append(contentsOf: #""}"#.utf8)
        }
        return Base64.encode(bytes)
    }

    /// What a `/v2/token/refresh` body holds: a sealed refresh token (388 characters) is opened and
    /// its answer must be sealed with the response key inside; any other body is taken as a bare
    /// legacy refresh token, answered in clear (nil response key).
    public static func openRequestBody(_ body: String, keys: KeyRing) -> Result<RequestToken, Failure> {
        guard body.utf8.count == textLength else { return .success(RequestToken(refreshToken: body, responseKey: nil)) }
        return Result { () throws(Failure) in try open(body, keys: keys) }
            .map { RequestToken(refreshToken: $0.refreshToken, responseKey: $0.responseKey) }
    }

    /// Opens a sealed refresh token with a key of the refresh keyset only (see `KeyRing.refreshKey(id:)`).
    public static func open(_ text: String, keys: KeyRing) throws(Failure) -> Contents {
        guard let bytes = Base64.decode(text) else { throw .notBase64 }
        var reader = ByteReader(bytes)
        // The scope byte is not checked, as in the reference.
        guard reader.readInteger(as: UInt8.self) != nil, let keyID = reader.readInteger(as: Int32.self) else {
            throw .notBase64
        }
        guard let key = keys.refreshKey(id: keyID) else { throw .unknownKey(keyID) }
        guard let plain = try? key.aesGCM.open(reader.readRest()) else { throw .decryptionFailed }
        guard let (keyText, refreshToken) = compactFields(plain) ?? jsonFields(Data(plain)),
              let keyBytes = Base64.decode(keyText),
              let responseKey = SymmetricKey.aes(keyBytes)
        else { throw .invalidPayload }
        return Contents(refreshToken: refreshToken, responseKey: responseKey)
    }

    private static let keyOpening = Array(#"{"refresh_response_key":""#.utf8)
    private static let tokenOpening = Array(#"","refresh_token":""#.utf8)
    private static let closing = Array(#""}"#.utf8)

    /// The two fields read straight from the layout `seal` writes (every refresh request opens
    /// one; the JSON parser was 2 % of a refresh). Values must be plain printable ASCII, so that
    /// they read exactly as a JSON parser would; any other payload gives nil and goes to
    /// `jsonFields` (tokens sealed by another operator may order or space their fields otherwise).
    static func compactFields<Plain: Sequence<UInt8>>(_ plain: Plain) -> (responseKey: String, refreshToken: String)? {
        let bytes = Array(plain)
        guard bytes.count >= keyOpening.count + tokenOpening.count + closing.count,
              bytes.starts(with: keyOpening), bytes.suffix(closing.count).elementsEqual(closing)
        else { return nil }
        let values = bytes[keyOpening.count..<(bytes.count - closing.count)]
        guard let keyEnd = values.firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        let key = values[..<keyEnd], afterKey = values[keyEnd...]
        guard afterKey.starts(with: tokenOpening) else { return nil }
        let token = afterKey.dropFirst(tokenOpening.count)
        @inline(__always) func plainText(_ byte: UInt8) -> Bool {
            byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
        }
        guard key.allSatisfy(plainText), token.allSatisfy(plainText) else { return nil }
        return (String(decoding: key, as: UTF8.self), String(decoding: token, as: UTF8.self))
    }

    /// Any JSON object with the two string fields. `JSONSerialization` reads this small object in
    /// about a third of `JSONDecoder`'s time.
    static func jsonFields(_ plain: Data) -> (responseKey: String, refreshToken: String)? {
        guard let payload = (try? JSONSerialization.jsonObject(with: plain)) as? [String: Any],
              let keyText = payload["refresh_response_key"] as? String,
              let refreshToken = payload["refresh_token"] as? String
        else { return nil }
        return (keyText, refreshToken)
    }
}
