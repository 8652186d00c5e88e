import Crypto
import Foundation

/// An opened v2 request envelope (docs/PROTOCOL.md#request-envelope): `0x01 ‖ AES-GCM(secret){ts ‖ nonce ‖ json}`.
public struct RequestEnvelope: Sendable, Equatable {
    public static let minimumLength = 1 + 12 + 16 + 8 + 8

    public let timestampMillis: Int64
    public let nonce: [UInt8]
    /// The request JSON's bytes; empty when the client sent none. A slice of the decrypted
    /// plaintext (no copy), so its indices need not start at zero.
    public let payload: Data
    /// Binary requests get binary responses; everything else gets base64 text.
    public let binaryResponse: Bool

    /// The reference accepts requests up to ~2 minutes old and up to 119 s in the future.
    public struct ClockWindow: Sendable, Equatable {
        public var maxAgeMillis: Int64
        public var maxFutureMillis: Int64
        public static let reference = ClockWindow(maxAgeMillis: 119_999, maxFutureMillis: 119_000)

        public init(maxAgeMillis: Int64, maxFutureMillis: Int64) {
            self.maxAgeMillis = maxAgeMillis
            self.maxFutureMillis = maxFutureMillis
        }

        /// A timestamp anywhere in Int64 is accepted or refused, never trapped on: an age that
        /// does not fit in Int64 is far outside any window.
        func accepts(timestamp: Int64, now: Int64) -> Bool {
            let (age, overflow) = now.subtractingReportingOverflow(timestamp)
            guard !overflow else { return false }
            return age <= maxAgeMillis && age >= -maxFutureMillis
        }
    }

    /// Opens `body`, sent with the given Content-Type, with the client's secret (its AES-GCM
    /// context prepared when the snapshot loaded: `ClientKey.envelopeKey`).
    public static func open(
        body: [UInt8], binary: Bool, secret: AESGCMKey, nowMillis: Int64, window: ClockWindow = .reference
    ) -> Result<RequestEnvelope, EnvelopeError> {
        open(body: body, binary: binary, preparedSecret: secret, nowMillis: nowMillis, window: window)
    }

    /// As above with a plain key, prepared for this one call. A key that is not an AES key opens
    /// nothing: the body's framing is still checked first, then decryption fails.
    public static func open(
        body: [UInt8], binary: Bool, secret: SymmetricKey, nowMillis: Int64, window: ClockWindow = .reference
    ) -> Result<RequestEnvelope, EnvelopeError> {
        open(body: body, binary: binary, preparedSecret: AESGCMKey(secret), nowMillis: nowMillis, window: window)
    }

    private static func open(
        body: [UInt8], binary: Bool, preparedSecret secret: AESGCMKey?, nowMillis: Int64, window: ClockWindow
    ) -> Result<RequestEnvelope, EnvelopeError> {
        if binary {
            let direct = openBinary(body, secret: secret, nowMillis: nowMillis, window: window, binaryResponse: true)
            guard case .failure = direct else { return direct }
            // The reference retries a failed binary body as base64 text, then answers in text.
            guard let decoded = decodeBase64(body) else { return direct }
            return openBinary(decoded, secret: secret, nowMillis: nowMillis, window: window, binaryResponse: false)
        }
        guard !body.isEmpty else { return .failure(.bodyMissing) }
        guard let decoded = decodeBase64(body) else {
            return .failure(isJSONObject(body) ? .unencryptedJSON : .notBase64)
        }
        return openBinary(decoded, secret: secret, nowMillis: nowMillis, window: window, binaryResponse: false)
    }

    private static func decodeBase64(_ body: [UInt8]) -> [UInt8]? {
        body.withUnsafeBufferPointer { Base64.decode(utf8: $0) }
    }

    private static func openBinary(
        _ bytes: [UInt8], secret: AESGCMKey?, nowMillis: Int64, window: ClockWindow, binaryResponse: Bool
    ) -> Result<RequestEnvelope, EnvelopeError> {
        guard !bytes.isEmpty else { return .failure(.bodyMissing) }
        guard bytes.count >= minimumLength else {
            return .failure(isJSONObject(bytes) ? .unencryptedJSON : .tooShort)
        }
        guard bytes[0] == 1 else {
            return .failure(isJSONObject(bytes) ? .unencryptedJSON : .unsupportedVersion(bytes[0]))
        }
        guard let plain = try? secret?.openData(bytes[1...]) else {
            return .failure(.decryptionFailed)
        }
        var reader = ByteReader(plain)
        guard let timestamp = reader.readInteger(as: Int64.self), let nonce = reader.readBytes(8).map(Array.init) else {
            return .failure(.tooShort)
        }
        guard window.accepts(timestamp: timestamp, now: nowMillis) else { return .failure(.staleTimestamp) }
        return .success(RequestEnvelope(
            timestampMillis: timestamp, nonce: nonce, payload: reader.readRest(), binaryResponse: binaryResponse
        ))
    }

    /// The client's side: `0x01 ‖ AES-GCM(secret){ts ‖ nonce ‖ json}`, as the SDKs build it (used by
    /// the benchmark's load generator and by tests).
    public static func seal(payload: some Collection<UInt8>, timestampMillis: Int64, nonce: [UInt8], secret: SymmetricKey) throws(AESGCMBox.Failure) -> [UInt8] {
        guard nonce.count == 8 else { throw .invalidNonce }
        var plain = [UInt8]()
        plain.reserveCapacity(16 + payload.count)
        plain.appendBigEndian(timestampMillis)
        plain.append(contentsOf: nonce)
        plain.append(contentsOf: payload)
        var sealed: [UInt8] = [1]
        sealed.reserveCapacity(1 + plain.count + AESGCMBox.overhead)
        try AESGCMBox.seal(plain, key: secret, appendingTo: &sealed)
        return sealed
    }

    /// Only used on the error path, to tell the caller they forgot to encrypt.
    static func isJSONObject(_ bytes: [UInt8]) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(bytes))) is [String: Any]
    }
}

/// Envelope failures, each a 400 `client_error` with the reference's exact message.
public enum EnvelopeError: Error, Sendable, Equatable {
    case bodyMissing
    case unencryptedJSON
    case notBase64
    case tooShort
    case unsupportedVersion(UInt8)
    case decryptionFailed
    case staleTimestamp
    case invalidJSON

    public func message(scope: IdentityScope) -> String {
        let docs = scope.docsHost + "/docs/getting-started/gs-encryption-decryption"
        let format = " See \(docs) for details on the request envelope format."
        switch self {
        case .bodyMissing:
            return "Invalid body: Body is missing."
        case .unencryptedJSON:
            return "Invalid body: The request body is unencrypted JSON. It must be an encrypted request envelope. See \(docs)#encryption-and-decryption-code-examples for encryption and decryption code examples."
        case .notBase64:
            return "Invalid body: Body is not valid base64." + format
        case .tooShort:
            return "Invalid body: Body too short. Check encryption method." + format
        case .unsupportedVersion(let version):
            return "Invalid body: Invalid request envelope format version: received \(version), must be 1." + format
        case .decryptionFailed:
            return "Invalid body: Check encryption key (ClientSecret)." + format
        case .staleTimestamp:
            return "Invalid timestamp: Request too old or client time drift."
        case .invalidJSON:
            return "Invalid payload in body: Data is not valid json string."
        }
    }
}

/// Response envelopes: only HTTP 200 bodies are sealed (docs/PROTOCOL.md#response-envelope).
public enum ResponseEnvelope {
    /// `AES-GCM(secret){server ts(8) ‖ request nonce(8) ‖ json}`, no version byte, with the
    /// client's prepared key (`ClientKey.envelopeKey`). The plaintext is written straight into the
    /// box and sealed there. nil only if BoringSSL refused to seal, which a prepared key does not;
    /// callers answer that with a 500 rather than trapping.
    public static func seal(json: [UInt8], nonce: [UInt8], secret: AESGCMKey, nowMillis: Int64) -> [UInt8]? {
        seal(nonce: nonce, secret: secret, nowMillis: nowMillis, jsonCapacity: json.count) { $0.append(contentsOf: json) }
    }

    /// As above, the JSON appended by `writeJSON` to the plaintext in the box (which it must only
    /// append to): a large answer (650 KB for 5,000 mapped identities) is written once, where it is
    /// sealed, not built apart and copied in. `jsonCapacity` is reserved for it up front.
    public static func seal(
        nonce: [UInt8], secret: AESGCMKey, nowMillis: Int64, jsonCapacity: Int, writeJSON: (inout [UInt8]) -> Void
    ) -> [UInt8]? {
        var box = [UInt8]()
        let (capacity, overflow) = jsonCapacity.addingReportingOverflow(16 + AESGCMKey.overhead)
        box.reserveCapacity(overflow ? 0 : max(0, capacity))
        do {
            try secret.seal(appendingTo: &box) { plain in
                plain.appendBigEndian(nowMillis)
                plain.append(contentsOf: nonce)
                writeJSON(&plain)
            }
        } catch {
            return nil
        }
        return box
    }

    /// As above with a plain key, prepared for this one call; nil for a key that is not an AES key.
    public static func seal(json: [UInt8], nonce: [UInt8], secret: SymmetricKey, nowMillis: Int64) -> [UInt8]? {
        AESGCMKey(secret).flatMap { seal(json: json, nonce: nonce, secret: $0, nowMillis: nowMillis) }
    }

    /// Refresh and client-side generate answers carry no timestamp or nonce: the JSON is sealed
    /// with the key alone (the refresh response key, or the client-side ECDH secret). Each is a
    /// key used once, prepared for this call (swift-crypto's `AES.GCM.seal` prepares one per call
    /// too, and then copies the box into three buffers).
    public static func sealWithKeyOnly(json: [UInt8], key: SymmetricKey) -> [UInt8]? {
        guard let key = AESGCMKey(key) else { return nil }
        return try? key.seal(json)
    }
}
