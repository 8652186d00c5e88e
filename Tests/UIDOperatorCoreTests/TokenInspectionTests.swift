import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol

@Suite struct TokenInspectionTests {
    func issue(_ snapshot: OperatorSnapshot, _ client: ClientKey, email: String) throws -> IdentityTokens {
        guard case .success(.tokens(let tokens)) = snapshot.generateToken(Fixtures.email(email), client: client, nowMillis: Fixtures.now) else {
            throw InspectionTestFailure()
        }
        return tokens
    }

    struct InspectionTestFailure: Error {}

    @Test func explainsAnIssuedAdvertisingToken() throws {
        let (snapshot, client) = try Fixtures.snapshot()
        let tokens = try issue(snapshot, client, email: "inspect@example.com")
        let later = Fixtures.now + 1_000
        let inspection = snapshot.inspectToken(tokens.advertisingToken, nowMillis: later)
        #expect(inspection.problem == nil)
        #expect(inspection.kind == "advertising_token")
        #expect(inspection.version == "v4")
        #expect(inspection.scope == "UID2")
        #expect(inspection.identityType == "email")
        #expect(inspection.siteID == client.siteID)
        #expect(inspection.created == Fixtures.now)
        #expect(inspection.expires == tokens.identityExpiresMillis)
        #expect(inspection.expired == false)
        #expect(inspection.optedOut == false)
        #expect(inspection.privacyBits == PrivacyBits.generated.rawValue)
        #expect(inspection.keys.map(\.role) == ["master", "site"])
        #expect(inspection.keys.allSatisfy { $0.inStore })
        #expect(inspection.keys.first?.keysetID == Keyset.masterKeysetID)
        #expect(snapshot.inspectToken(tokens.advertisingToken, nowMillis: tokens.identityExpiresMillis + 1).expired == true)
    }

    @Test func explainsTheSealedRefreshTokenAndTheTokenInside() throws {
        let (snapshot, client) = try Fixtures.snapshot()
        let tokens = try issue(snapshot, client, email: "inspect@example.com")
        #expect(tokens.refreshToken.utf8.count == SealedRefreshToken.textLength)
        let inspection = snapshot.inspectToken(tokens.refreshToken, nowMillis: Fixtures.now)
        #expect(inspection.problem == nil)
        #expect(inspection.kind == "sealed_refresh_token")
        #expect(inspection.version == "v3")
        #expect(inspection.siteID == client.siteID)
        #expect(inspection.refreshFrom == tokens.refreshFromMillis)
        #expect(inspection.expires == tokens.refreshExpiresMillis)
        #expect(inspection.keys.map(\.role) == ["seal", "refresh"])
        #expect(inspection.keys.allSatisfy { $0.inStore && $0.keysetID == Keyset.refreshKeysetID })
    }

    @Test func saysWhenTheIdentityOptedOut() throws {
        let (contents, _) = Fixtures.contents()
        let before = try OperatorSnapshot(config: OperatorConfig(), contents: contents)
        let client = contents.clients[0]
        // Issued before the opt-out, inspected after it.
        let tokens = try issue(before, client, email: "gone@example.com")
        let flh = HashChain.firstLevelHash(
            identityHash: try #require(IdentityHash(kind: .email, value: "gone@example.com")).bytes, firstLevelSalt: contents.salts.firstLevelSalt
        )
        let since = Fixtures.now / 1000 + 5
        let after = before.addingOptOut(firstLevelHash: flh, advertisingID: nil, optedOutSinceSeconds: since)
        let envelope = after.inspectToken(tokens.refreshToken, nowMillis: Fixtures.now)
        #expect(envelope.problem == nil)
        #expect(envelope.optedOut == true)
        #expect(envelope.optedOutSince == since * 1000)
        #expect(before.inspectToken(tokens.refreshToken, nowMillis: Fixtures.now).optedOut == false)
    }

    @Test func namesAKeyTheStoreNoLongerHas() throws {
        let (snapshot, client) = try Fixtures.snapshot()
        let tokens = try issue(snapshot, client, email: "inspect@example.com")
        // Another store (fresh keys, same ids at best) cannot read them.
        var (contents, _) = Fixtures.contents()
        contents.keys = contents.keys.filter { $0.keysetID != Keyset.refreshKeysetID && $0.keysetID != Keyset.masterKeysetID }
            + contents.keys.filter { $0.keysetID == Keyset.refreshKeysetID || $0.keysetID == Keyset.masterKeysetID }.compactMap {
                KeysetKey(id: $0.id + 1_000, keysetID: $0.keysetID, createdSeconds: $0.createdSeconds, activatesSeconds: $0.activatesSeconds,
                          expiresSeconds: $0.expiresSeconds, secret: $0.secret)
            }
        let other = try OperatorSnapshot(config: OperatorConfig(), contents: contents)
        let envelope = other.inspectToken(tokens.refreshToken, nowMillis: Fixtures.now)
        #expect(envelope.kind == "sealed_refresh_token")
        #expect(envelope.keys.first?.inStore == false)
        #expect(envelope.problem?.contains("not in the store") == true)
        let advertising = other.inspectToken(tokens.advertisingToken, nowMillis: Fixtures.now)
        #expect(advertising.kind == "advertising_token")
        #expect(advertising.keys.first?.inStore == false)
        #expect(advertising.problem != nil)
    }

    @Test(arguments: ["", "garbage", String(repeating: "A", count: 388), "AAAA", "A4AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"])
    func refusesWhatIsNotAToken(_ text: String) throws {
        let (snapshot, _) = try Fixtures.snapshot()
        let inspection = snapshot.inspectToken(text, nowMillis: Fixtures.now)
        #expect(inspection.problem != nil)
        #expect(inspection.optedOut == nil)
    }
}
