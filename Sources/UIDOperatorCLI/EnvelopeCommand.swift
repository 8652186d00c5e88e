import ArgumentParser
import Crypto
import Foundation
import UIDOperatorCore
import UIDProtocol

/// What the request script in the UID2 docs does, for debugging an integration: seal a JSON
/// request with a client secret, and open the operator's answer.
struct EnvelopeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "envelope", abstract: "Encrypt requests and decrypt answers as the SDKs do.", subcommands: [Encrypt.self, Decrypt.self]
    )

    struct SecretOptions: ParsableArguments {
        @Option(help: "The client secret (base64); default $UID_CLIENT_SECRET, which keeps it out of process listings.")
        var secret: String?

        func key() throws -> SymmetricKey {
            let text = secret ?? ProcessInfo.processInfo.environment["UID_CLIENT_SECRET"]
            guard let text, !text.isEmpty else { throw ValidationError("Give --secret or set UID_CLIENT_SECRET") }
            guard let bytes = Base64.decode(text), let key = SymmetricKey.aes(bytes) else {
                throw ValidationError("The secret must be the base64 of a 16-, 24- or 32-byte key")
            }
            return key
        }
    }

    struct Encrypt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Seal a JSON request body (argument, or standard input) in a v2 request envelope.",
            discussion: "Prints the base64 envelope to POST, and the nonce the answer must carry."
        )

        @OptionGroup var secret: SecretOptions

        @Argument(help: "The request JSON; `-` or nothing reads standard input.")
        var payload: String?

        @Option(help: "Request time in epoch milliseconds (default now).")
        var timestamp: Int64?

        @Flag(help: "Print JSON: envelope, nonce, timestamp.")
        var json = false

        func run() async throws {
            let key = try secret.key()
            let text: String
            if let payload, payload != "-" {
                text = payload
            } else {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            let body = Data(text.utf8)
            guard (try? JSONSerialization.jsonObject(with: body)) is [String: Any] else {
                throw ValidationError("The payload must be a JSON object")
            }
            let nonce = (0..<8).map { _ in UInt8.random(in: .min ... .max) }
            let time = timestamp ?? OperatorClock.system.nowMillis()
            let sealed = try RequestEnvelope.seal(payload: Array(body), timestampMillis: time, nonce: nonce, secret: key)
            let envelope = Base64.encode(sealed)
            if json {
                let output: [String: Any] = ["envelope": envelope, "nonce": Base64.encode(nonce), "timestamp": time]
                print(String(decoding: try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            } else {
                print(envelope)
                FileHandle.standardError.write(Data("nonce \(Base64.encode(nonce)), timestamp \(time)\n".utf8))
            }
        }
    }

    struct Decrypt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open an operator's answer (or a request envelope) with the client secret, or a refresh answer with its refresh_response_key.",
            discussion: "Prints the JSON inside. Answers carry the server's time and the request's nonce; give --nonce to check it."
        )

        @OptionGroup var secret: SecretOptions

        @Argument(help: "The base64 answer; `-` or nothing reads standard input.")
        var envelope: String?

        @Option(help: "The nonce (base64) the request was sent with, to check the answer's.")
        var nonce: String?

        @Flag(help: "A /v2/token/refresh answer: sealed with the refresh_response_key (pass it as the secret), no time or nonce inside.")
        var refresh = false

        @Flag(help: "Print JSON: payload, timestamp, nonce, and whether the nonce matches.")
        var json = false

        func run() async throws {
            let key = try secret.key()
            let text: String
            if let envelope, envelope != "-" {
                text = envelope
            } else {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            guard let bytes = Base64.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw CommandFailure("Not base64")
            }
            let opened = try Self.open(bytes, key: key, refresh: refresh)
            let expected = try nonce.map { given -> [UInt8] in
                guard let decoded = Base64.decode(given), decoded.count == 8 else { throw ValidationError("--nonce must be the base64 of 8 bytes") }
                return decoded
            }
            let nonceMatches = expected.map { $0 == opened.nonce }
            let payloadText = String(decoding: opened.payload, as: UTF8.self)
            if json {
                var output: [String: Any] = ["payload": (try? JSONSerialization.jsonObject(with: Data(opened.payload))) ?? payloadText, "kind": opened.kind]
                if let time = opened.timestamp { output["timestamp"] = time }
                if let nonce = opened.nonce { output["nonce"] = Base64.encode(nonce) }
                if let nonceMatches { output["nonce_matches"] = nonceMatches }
                print(String(decoding: try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            } else {
                print(payloadText)
                if let time = opened.timestamp { FileHandle.standardError.write(Data("\(opened.kind), timestamp \(time)\n".utf8)) }
            }
            if nonceMatches == false { throw CommandFailure("The answer's nonce is not the request's") }
        }

        struct Opened {
            var kind: String
            var timestamp: Int64?
            var nonce: [UInt8]?
            var payload: [UInt8]
        }

        /// An answer is `AES-GCM{time ‖ nonce ‖ json}`; a request has a version byte (1) first; a
        /// refresh answer is `AES-GCM{json}`. The GCM tag tells which layout is right.
        static func open(_ bytes: [UInt8], key: SymmetricKey, refresh: Bool) throws -> Opened {
            if refresh {
                guard let plain = try? AESGCMBox.open(bytes, key: key) else { throw CommandFailure("Does not decrypt with this key") }
                return Opened(kind: "refresh answer", payload: Array(plain))
            }
            if let plain = try? AESGCMBox.open(bytes, key: key) {
                return try timed(Array(plain), kind: "answer")
            }
            if bytes.first == 1, let plain = try? AESGCMBox.open(bytes.dropFirst(), key: key) {
                return try timed(Array(plain), kind: "request")
            }
            throw CommandFailure("Does not decrypt with this secret (a refresh answer needs --refresh and its refresh_response_key)")
        }

        private static func timed(_ plain: [UInt8], kind: String) throws -> Opened {
            var reader = ByteReader(plain)
            guard let time = reader.readInteger(as: Int64.self), let nonce = reader.readBytes(8) else {
                throw CommandFailure("Decrypted, but too short to hold a time and a nonce")
            }
            return Opened(kind: kind, timestamp: time, nonce: Array(nonce), payload: Array(reader.readRest()))
        }
    }
}
