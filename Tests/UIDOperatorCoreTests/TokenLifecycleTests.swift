@preconcurrency import Crypto
import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol

@Suite struct TokenLifecycleTests {
    func tokens(_ outcome: Result<TokenOutcome, OperatorFailure>) -> IdentityTokens? {
        if case .success(.tokens(let tokens)) = outcome { return tokens }
        return nil
    }

    @Test func generateIssuesTokensThatDecodeToTheRawUID() throws {
        let (snapshot, client) = try Fixtures.snapshot()
        let now = Fixtures.now
        let issued = try #require(tokens(snapshot.generateToken(Fixtures.email("Jane.Doe@Example.com"), client: client, nowMillis: now)))
        let lifetimes = snapshot.config.lifetimes
        #expect(issued.identityExpiresMillis == now + lifetimes.identityTokenExpiresAfterSeconds * 1000)
        #expect(issued.refreshExpiresMillis == now + lifetimes.refreshTokenExpiresAfterSeconds * 1000)
        #expect(issued.refreshFromMillis == now + lifetimes.refreshIdentityTokenAfterSeconds * 1000)
        #expect(issued.refreshToken.count == 388)
        #expect(Base64.decode(issued.refreshResponseKey)?.count == 32)

        let token = try AdvertisingToken.decode(issued.advertisingToken, keys: snapshot.keys)
        let expected = snapshot.currentRawUID(snapshot.resolve(IdentityHash(kind: .email, value: "jane.doe@example.com")!))
        #expect(token.rawUID == expected)
        #expect(token.rawUID.count == 32)
        #expect(token.publisher.siteID == Fixtures.siteID && token.privacyBits == .generated)
        #expect(token.establishedMillis == now && token.createdMillis == now && token.expiresMillis == issued.identityExpiresMillis)
        #expect(snapshot.keys.key(id: token.siteKeyID)?.keysetID == snapshot.keys.defaultKeyset(siteID: Fixtures.siteID)?.id)
    }

    @Test func identityV3AndEUIDScopeShapeTheRawUID() throws {
        let (snapshot, client) = try Fixtures.snapshot(config: OperatorConfig(scope: .euid, identityV3: true))
        let issued = try #require(tokens(snapshot.generateToken(
            GenerateTokenRequest(identity: IdentityFields(phone: .string("+15555550123"))), client: client, nowMillis: Fixtures.now)))
        #expect(issued.advertisingToken.hasPrefix("F4"))
        let token = try AdvertisingToken.decode(issued.advertisingToken, keys: snapshot.keys)
        #expect(token.rawUID.count == 33 && token.rawUID[0] == 0x14)
        #expect(token.scope == .euid && token.type == .phone)
    }

    @Test func requestValidationMessages() throws {
        let (snapshot, client) = try Fixtures.snapshot()
        let missing = "Required Parameter Missing: exactly one of [email, email_hash, phone, phone_hash] must be specified"
        func failure(_ fields: IdentityFields) -> OperatorFailure? {
            snapshot.generateToken(GenerateTokenRequest(identity: fields), client: client, nowMillis: Fixtures.now).failure
        }
        #expect(failure(IdentityFields()) == .clientError(missing))
        #expect(failure(IdentityFields(email: .string("a@b.com"), phone: .string("+12345678901"))) == .clientError(missing))
        #expect(failure(IdentityFields(email: .null)) == .clientError(missing))
        #expect(failure(IdentityFields(email: .string("not-an-email"))) == .clientError("Invalid Identifier"))
        #expect(failure(IdentityFields(emailHash: .string("abc"))) == .clientError("Invalid Identifier"))
        #expect(failure(IdentityFields(email: .notAString))?.kind == .clientError)
        let (noPhones, _) = try Fixtures.snapshot(config: OperatorConfig(phoneSupport: false))
        #expect(noPhones.generateToken(GenerateTokenRequest(identity: IdentityFields(phone: .string("+12345678901"))), client: client, nowMillis: Fixtures.now).failure
                == .clientError("Required Parameter Missing: exactly one of email or email_hash must be specified"))
    }

    @Test func optOutsAndTestIdentities() throws {
        let (snapshot, client) = try Fixtures.snapshot(optOuts: [(.email, "gone@example.com")])
        let now = Fixtures.now
        func generate(_ fields: IdentityFields) -> Result<TokenOutcome, OperatorFailure> {
            snapshot.generateToken(GenerateTokenRequest(identity: fields), client: client, nowMillis: now)
        }
        #expect(generate(IdentityFields(email: .string("gone@example.com"))).value == .optOut)
        #expect(generate(IdentityFields(email: .string("optout@example.com"))).value == .optOut)
        #expect(generate(IdentityFields(phone: .string("+00000000000"))).value == .optOut)
        let hashOfOptout = Base64.encode(IdentityHash(kind: .email, value: "optout@example.com")!.bytes)
        #expect(generate(IdentityFields(emailHash: .string(hashOfOptout))).value == .optOut, "hashed input matches too")
        #expect(generate(IdentityFields(phoneHash: .string(hashOfOptout))).value != .optOut, "type must match")
        #expect(tokens(generate(IdentityFields(email: .string("validate@example.com")))) != nil)

        // refresh-optout: tokens on generate, opt-out on refresh.
        let issued = try #require(tokens(generate(IdentityFields(email: .string("refresh-optout@example.com")))))
        let refreshed = try #require(snapshot.refresh(body: issued.refreshToken, authenticated: false, nowMillis: now + 1000).value)
        #expect(refreshed.outcome == .optOut)
        #expect(refreshed.responseKey?.withUnsafeBytes { Array($0) } == Base64.decode(issued.refreshResponseKey), "opt-out answers are encrypted too")
    }

    @Test func refreshChainKeepsEstablishedAndAdvancesTimes() throws {
        let (snapshot, client) = try Fixtures.snapshot()
        var now = Fixtures.now
        var current = try #require(tokens(snapshot.generateToken(Fixtures.email("chain@example.com"), client: client, nowMillis: now)))
        let firstUID = try AdvertisingToken.decode(current.advertisingToken, keys: snapshot.keys).rawUID
        for _ in 0..<3 {
            now += 60_000
            let result = try #require(snapshot.refresh(body: current.refreshToken, authenticated: true, nowMillis: now).value)
            #expect(result.responseKey?.withUnsafeBytes { Array($0) } == Base64.decode(current.refreshResponseKey))
            guard case .tokens(let next) = result.outcome else { Issue.record("expected tokens"); return }
            #expect(next.refreshResponseKey != current.refreshResponseKey)
            #expect(next.identityExpiresMillis == current.identityExpiresMillis + 60_000)
            let token = try AdvertisingToken.decode(next.advertisingToken, keys: snapshot.keys)
            #expect(token.rawUID == firstUID)
            #expect(token.establishedMillis == Fixtures.now)
            #expect(token.refreshedMillis == now)
            current = next
        }
    }

    @Test func refreshFailures() throws {
        let (snapshot, client) = try Fixtures.snapshot()
        let now = Fixtures.now
        let issued = try #require(tokens(snapshot.generateToken(Fixtures.email("x@example.com"), client: client, nowMillis: now)))
        let expiry = now + snapshot.config.lifetimes.refreshTokenExpiresAfterSeconds * 1000

        #expect(snapshot.refresh(body: issued.refreshToken, authenticated: true, nowMillis: expiry).value != nil, "expiry is inclusive")
        #expect(snapshot.refresh(body: issued.refreshToken, authenticated: true, nowMillis: expiry + 1).failure
                == OperatorFailure(.expiredToken, "Expired Token presented"))
        #expect(snapshot.refresh(body: issued.refreshToken, authenticated: false, nowMillis: expiry + 1).failure
                == OperatorFailure(.refreshError, "Error refreshing token"))
        #expect(snapshot.refresh(body: "garbage", authenticated: true, nowMillis: now).failure
                == OperatorFailure(.invalidToken, "Invalid Token presented"))
        #expect(snapshot.refresh(body: "", authenticated: false, nowMillis: now).failure
                == OperatorFailure(.refreshError, "Error refreshing token"))

        var tampered = Array(Base64.decode(issued.refreshToken)!)
        tampered[150] ^= 0x01
        #expect(snapshot.refresh(body: Base64.encode(tampered), authenticated: true, nowMillis: now).failure
                == .clientError("Invalid data: Check encryption method and encryption key."))
        tampered = Array(Base64.decode(issued.refreshToken)!)
        tampered[1...4] = [0x7F, 0, 0, 1]
        #expect(snapshot.refresh(body: Base64.encode(tampered), authenticated: true, nowMillis: now).failure
                == .clientError("Invalid key: Generator of this token (Key ID: 2130706433) does not exist."))
        #expect(snapshot.refresh(body: String(repeating: "*", count: 388), authenticated: true, nowMillis: now).failure
                == .clientError("Invalid body: Body is not valid base64."))

        // A token of the other scope is invalid here.
        let euid = try OperatorSnapshot(config: OperatorConfig(scope: .euid), contents: StoreContents(
            sites: [], clients: [], keysets: Array(snapshot.keys.keysets.values), keys: Array(snapshot.keys.allKeys),
            salts: snapshot.salts, optOuts: OptOutIndex()))
        #expect(euid.refresh(body: issued.refreshToken, authenticated: true, nowMillis: now).failure?.kind == .invalidToken)
    }

    @Test func bareLegacyRefreshTokenIsAnsweredInClear() throws {
        let (snapshot, _) = try Fixtures.snapshot()
        let flh = [UInt8](repeating: 7, count: 32)
        let bare = RefreshToken(scope: .uid2, type: .email, expiresMillis: Fixtures.now + 1000, createdMillis: Fixtures.now,
                                publisher: PublisherIdentity(siteID: 999), privacyBits: .generated,
                                establishedMillis: Fixtures.now, firstLevelHash: flh)
            .encodeV3(refreshKey: snapshot.keys.activeRefreshKey(atSeconds: Fixtures.now / 1000)!)
        let result = try #require(snapshot.refresh(body: bare, authenticated: false, nowMillis: Fixtures.now).value)
        #expect(result.responseKey == nil)
        guard case .tokens = result.outcome else { Issue.record("expected tokens"); return }

        let ancient = RefreshToken(scope: .uid2, type: .email, expiresMillis: Fixtures.now + 1000, createdMillis: Fixtures.now,
                                   publisher: PublisherIdentity(siteID: 999), privacyBits: .generated,
                                   establishedMillis: 1_600_000_000_000, firstLevelHash: flh)
            .encodeV3(refreshKey: snapshot.keys.activeRefreshKey(atSeconds: Fixtures.now / 1000)!)
        #expect(snapshot.refresh(body: ancient, authenticated: false, nowMillis: Fixtures.now).value?.outcome == .optOut)
    }

    @Test func euidConsent() throws {
        let (snapshot, client) = try Fixtures.snapshot(config: OperatorConfig(scope: .euid))
        func generate(_ consent: JSONField) -> Result<TokenOutcome, OperatorFailure> {
            snapshot.generateToken(GenerateTokenRequest(identity: IdentityFields(email: .string("a@b.com")), tcfConsentString: consent),
                                   client: client, nowMillis: Fixtures.now)
        }
        #expect(tokens(generate(.string("CPehNtWPehNtWABAMBFRACBoALAAAEJAAIYgAKwAQAKgArABAAqAAA"))) != nil)
        #expect(generate(.string("CPehXK9PehXK9ABAMBFRACBoADAAAEJAAIYgAKwAQAKgArABAAqAAA")).value == .insufficientUserConsent)
        #expect(generate(.string("invalid_consent_string")).failure == .clientError("User consent is invalid"))
        #expect(generate(.string("")).failure == .clientError("User consent is invalid"))
        #expect(generate(.null).failure == .clientError("User consent is invalid"))
        #expect(tokens(generate(.absent)) != nil)

        let (uid2, uid2Client) = try Fixtures.snapshot()
        #expect(tokens(uid2.generateToken(GenerateTokenRequest(identity: IdentityFields(email: .string("a@b.com")), tcfConsentString: .string("invalid")),
                                          client: uid2Client, nowMillis: Fixtures.now)) != nil, "UID2 ignores consent")
    }

    @Test func validate() throws {
        let (snapshot, client) = try Fixtures.snapshot()
        let issued = try #require(tokens(snapshot.generateToken(Fixtures.email("v@example.com"), client: client, nowMillis: Fixtures.now)))
        func validate(_ token: JSONField, _ email: String) -> Result<Bool, OperatorFailure> {
            snapshot.validateToken(ValidateTokenRequest(token: token, identity: IdentityFields(email: .string(email))), client: client)
        }
        #expect(validate(.string(issued.advertisingToken), "V@Example.com").value == true)
        #expect(validate(.string(issued.advertisingToken), "other@example.com").value == false)
        #expect(validate(.string("garbage"), "v@example.com").failure == .clientError("Invalid token"))
        #expect(validate(.absent, "v@example.com").failure == .clientError("Invalid token"))
        var other = client
        other.siteID = 4321
        #expect(snapshot.validateToken(ValidateTokenRequest(token: .string(issued.advertisingToken), identity: IdentityFields(email: .string("v@example.com"))),
                                       client: other).failure == .clientError("Unauthorised to validate token"))
    }

    @Test func noActiveKeyIsReported() throws {
        var (contents, _) = Fixtures.contents()
        contents.keys.removeAll { $0.keysetID == Keyset.masterKeysetID }
        let snapshot = try OperatorSnapshot(config: OperatorConfig(), contents: contents)
        #expect(snapshot.generateToken(Fixtures.email("a@b.com"), client: contents.clients[0], nowMillis: Fixtures.now).failure?.kind == .noActiveKey)
    }
}
