@preconcurrency import Crypto
import UIDProtocol

enum EnvelopeTargets {
    /// The v2 request envelope every keyed endpoint opens. Selector bit 0 picks the layer: the raw
    /// body (base64 or binary), or arbitrary plaintext sealed with the client's secret, which
    /// reaches the timestamp, nonce and clock-window checks that a forger cannot.
    static let requestEnvelope = FuzzTarget(
        name: "request-envelope",
        summary: "v2 request envelope: base64/binary framing, version byte, AES-GCM, timestamp window",
        seeds: {
            let world = FuzzWorld.shared
            let payload = Array(#"{"email":"user@example.com"}"#.utf8)
            let sealed = world.requestEnvelope(payload)
            var plain = [UInt8]()
            plain.appendBigEndian(FuzzWorld.nowMillis)
            plain += [1, 2, 3, 4, 5, 6, 7, 8] + payload
            var oldest = [UInt8]()
            oldest.appendBigEndian(Int64.min)
            oldest += [1, 2, 3, 4, 5, 6, 7, 8]
            return [
                FuzzInput.with(0, Array(Base64.encode(sealed).utf8)),
                FuzzInput.with(2, sealed),
                FuzzInput.with(1, plain),
                FuzzInput.with(1, oldest),
                FuzzInput.with(0, Array(#"{"email":"a@b.c"}"#.utf8)),
            ]
        },
        run: { bytes in
            let world = FuzzWorld.shared
            let input = FuzzInput(bytes)
            let body: [UInt8]
            if input.selector & 1 == 1 {
                var sealed: [UInt8] = [1]
                guard (try? AESGCMBox.seal(input.rest, key: world.clientSecret, appendingTo: &sealed)) != nil else {
                    return "sealing with the fuzz client's secret failed"
                }
                body = input.selector & 2 == 0 ? Array(Base64.encode(sealed).utf8) : sealed
            } else {
                body = input.rest
            }
            let opened = RequestEnvelope.open(
                body: body, binary: input.selector & 2 != 0, secret: world.clientSecret, nowMillis: FuzzWorld.nowMillis
            )
            if case .success(let envelope) = opened {
                // Whatever was accepted lies inside the window around "now".
                let window = RequestEnvelope.ClockWindow.reference
                guard envelope.timestampMillis >= FuzzWorld.nowMillis - window.maxAgeMillis,
                      envelope.timestampMillis <= FuzzWorld.nowMillis + window.maxFutureMillis
                else { return "accepted an envelope stamped \(envelope.timestampMillis), outside the window" }
            }
            return nil
        }
    )
}
