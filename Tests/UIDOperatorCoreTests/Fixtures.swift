@preconcurrency import Crypto
import Foundation
import UIDOperatorCore
import UIDProtocol

/// A small, fully known operator state: 5 buckets (so the mod rule applies), one site keyset.
enum Fixtures {
    static let now: Int64 = 1_750_000_000_000
    static let siteID: Int32 = 999

    static func contents(bucketCount: Int = 5) -> (StoreContents, ClientCredentials) {
        InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: now, bucketCount: bucketCount)
    }

    static func snapshot(config: OperatorConfig = OperatorConfig(), optOuts: [(IdentityInputKind, String)] = []) throws -> (OperatorSnapshot, ClientKey) {
        var (contents, _) = contents()
        for (kind, value) in optOuts {
            let flh = HashChain.firstLevelHash(identityHash: IdentityHash(kind: kind, value: value)!.bytes, firstLevelSalt: contents.salts.firstLevelSalt)
            contents.optOuts.insert(firstLevelHash: flh, optedOutSinceSeconds: now / 1000)
        }
        let snapshot = try OperatorSnapshot(config: config, contents: contents)
        return (snapshot, contents.clients[0])
    }

    static func email(_ value: String) -> GenerateTokenRequest {
        GenerateTokenRequest(identity: IdentityFields(email: .string(value)))
    }
}

extension Result {
    var value: Success? { try? get() }
    var failure: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}

/// A refresh answer as the server builds it: the outcome and the key it is sealed with.
struct RefreshAnswer {
    var outcome: TokenOutcome
    var responseKey: SymmetricKey?
}

extension OperatorSnapshot {
    /// What the server does with a `/v2/token/refresh` body: the protocol opens the sealed refresh
    /// token (its failures are `client_error`s), then the core refreshes the plain token.
    func refresh(body: String, authenticated: Bool, nowMillis: Int64) -> Result<RefreshAnswer, OperatorFailure> {
        switch SealedRefreshToken.openRequestBody(body, keys: keys) {
        case .failure(let failure):
            return .failure(.clientError(failure.message))
        case .success(let opened):
            return refreshToken(TokenRefreshRequest(refreshToken: opened.refreshToken, authenticated: authenticated), nowMillis: nowMillis)
                .map { RefreshAnswer(outcome: $0, responseKey: opened.responseKey) }
        }
    }
}
