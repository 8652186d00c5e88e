import UIDProtocol

/// How long a new key stays valid after it activates, as the reference's admin service sets it:
/// `master_key_expires_after_seconds` for the master and refresh keysets,
/// `site_key_expires_after_seconds` for every other keyset (new key: expires = activates + period).
///
/// The defaults cover every token a key can encrypt: a key encrypts until the next daily rotation
/// activates its successor, and the longest-lived tokens it protects (refresh and sharing tokens)
/// live 30 days; 32 days leaves a day of slack. Short, rotating expiries also keep every key time
/// below 2^31 seconds, which SDKs that read key times as 32-bit integers need.
public struct KeyExpiry: Sendable, Equatable {
    public static let defaultSeconds: Int64 = 32 * 86_400
    public static let `default` = KeyExpiry()

    public var masterKeyExpiresAfterSeconds: Int64
    public var siteKeyExpiresAfterSeconds: Int64

    public init(masterKeyExpiresAfterSeconds: Int64 = defaultSeconds, siteKeyExpiresAfterSeconds: Int64 = defaultSeconds) {
        self.masterKeyExpiresAfterSeconds = masterKeyExpiresAfterSeconds
        self.siteKeyExpiresAfterSeconds = siteKeyExpiresAfterSeconds
    }

    public func expiresAfterSeconds(keysetID: Int32) -> Int64 {
        keysetID == Keyset.masterKeysetID || keysetID == Keyset.refreshKeysetID ? masterKeyExpiresAfterSeconds : siteKeyExpiresAfterSeconds
    }

    /// When a key of `keysetID` that activates at `activatesSeconds` expires (saturating, never trapping).
    public func expiresSeconds(keysetID: Int32, activatesSeconds: Int64) -> Int64 {
        let (sum, overflow) = activatesSeconds.addingReportingOverflow(expiresAfterSeconds(keysetID: keysetID))
        return overflow ? Int64.max : sum
    }
}
