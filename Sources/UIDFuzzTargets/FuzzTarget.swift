/// One decoder that untrusted bytes reach, driven with arbitrary input.
///
/// `uid-fuzz` (built by `scripts/fuzz` with libFuzzer and the address sanitizer) runs a target
/// coverage-guided; the unit tests replay every target's seeds and saved regressions through the
/// same `run`, so the harnesses build and pass in every ordinary test run.
public struct FuzzTarget: Sendable {
    public let name: String
    public let summary: String
    /// Where to start: real encodings from the operator's own encoders, and the documented vectors.
    public let seeds: @Sendable () -> [[UInt8]]
    /// Runs one input. A crash or sanitizer report is a finding; so is a non-nil answer, which
    /// names a promise the operator broke (a 5xx, a forged token accepted).
    public let run: @Sendable ([UInt8]) -> String?

    public init(name: String, summary: String, seeds: @escaping @Sendable () -> [[UInt8]], run: @escaping @Sendable ([UInt8]) -> String?) {
        self.name = name
        self.summary = summary
        self.seeds = seeds
        self.run = run
    }
}

public enum FuzzTargets {
    public static let all: [FuzzTarget] = [
        EnvelopeTargets.requestEnvelope,
        TokenTargets.sealedRefreshToken,
        TokenTargets.refreshToken,
        TokenTargets.advertisingToken,
        TextTargets.tcfConsent,
        TextTargets.base64,
        TextTargets.email,
        TextTargets.phone,
        TextTargets.hashids,
        TextTargets.origin,
        EndpointTargets.authorization,
        EndpointTargets.payloads,
        EndpointTargets.clientSide,
        ImportTargets.optOutFile,
        ImportTargets.coreImport,
    ]

    public static func named(_ name: String) -> FuzzTarget? {
        all.first { $0.name == name }
    }
}

/// Splits fuzz input into a selector byte and the rest, so one target can reach several layers.
struct FuzzInput {
    let selector: UInt8
    let rest: [UInt8]

    init(_ bytes: [UInt8]) {
        selector = bytes.first ?? 0
        rest = Array(bytes.dropFirst())
    }

    static func with(_ selector: UInt8, _ rest: [UInt8]) -> [UInt8] { [selector] + rest }
    static func with(_ selector: UInt8, _ text: String) -> [UInt8] { [selector] + Array(text.utf8) }
}
