import UIDProtocol

/// An opt-out as it is stored: who (first-level hash), which advertising id, since when (seconds).
public struct OptOutRecord: Sendable, Equatable {
    public var firstLevelHash: [UInt8]
    public var advertisingID: [UInt8]?
    public var optedOutSinceSeconds: Int64

    public init(firstLevelHash: [UInt8], advertisingID: [UInt8]?, optedOutSinceSeconds: Int64) {
        self.firstLevelHash = firstLevelHash
        self.advertisingID = advertisingID
        self.optedOutSinceSeconds = optedOutSinceSeconds
    }
}

extension OperatorSnapshot {
    /// `/v2/token/logout`: the record to persist for this identity. Invalid input is `invalid_token`,
    /// as with the reference.
    public func optOutRecord(for identity: IdentityFields, nowMillis: Int64) -> Result<OptOutRecord, OperatorFailure> {
        switch identity.identityHash(phoneSupport: config.phoneSupport) {
        case .failure(let failure):
            return .failure(OperatorFailure(.invalidToken, "Invalid Token presented: \(failure.message)"))
        case .success(let hash):
            let resolved = resolve(hash)
            return .success(OptOutRecord(
                firstLevelHash: resolved.firstLevelHash, advertisingID: currentRawUID(resolved), optedOutSinceSeconds: nowMillis / 1000
            ))
        }
    }

    /// `/v2/optout/status`: which of these raw UIDs are opted out, and since when (epoch ms).
    public func optOutStatus(advertisingIDs: [String]) -> Result<[(advertisingID: String, optedOutSinceMillis: Int64)], OperatorFailure> {
        guard advertisingIDs.count <= config.optOutStatusMaxRequestSize else {
            return .failure(.clientError("Request payload is too large"))
        }
        return .success(advertisingIDs.compactMap { text in
            guard let bytes = Base64.decode(text), let seconds = optedOutSince(advertisingID: bytes) else { return nil }
            return (text, seconds * 1000)
        })
    }
}
