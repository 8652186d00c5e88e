@preconcurrency import Crypto
import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol

/// Identity map, key distribution, opt-out status and client-side generation over a snapshot.
@Suite struct ParticipantUseCaseTests {
    @Test func identityMapV3AnswersIndexByIndex() throws {
        let (snapshot, _) = try Fixtures.snapshot(optOuts: [(.phone, "+15555550100")])
        let request = IdentityMapRequest(inputs: [
            .email: ["a@example.com", "not an email", "optout@example.com"],
            .phone: ["+15555550100"],
            .emailHash: [],
        ])
        let results = try snapshot.mapIdentities(request, nowMillis: Fixtures.now).get()
        let emails = try #require(results[.email])
        guard case .mapped(let uid, let previous, let refreshFrom, _) = emails[0] else { Issue.record("expected a mapping"); return }
        #expect(uid.bytes == snapshot.currentRawUID(snapshot.resolve(IdentityHash(kind: .email, value: "a@example.com")!)))
        #expect(previous == nil, "fresh buckets have no previous salt")
        #expect(refreshFrom >= Fixtures.now)
        #expect(emails[1] == .invalidIdentifier && emails[2] == .optOut)
        #expect(results[.phone] == [.optOut])
        #expect(results[.emailHash] == [])
        #expect(snapshot.mapIdentities(IdentityMapRequest(inputs: [:]), nowMillis: Fixtures.now).failure
                == .clientError("Required Parameter Missing: one or more of [email, email_hash, phone, phone_hash] must be specified"))
    }

    @Test func identityMapV3NamedButEmptyKindsAnswerEmptyArrays() throws {
        let (snapshot, _) = try Fixtures.snapshot()
        let results = try snapshot.mapIdentities(IdentityMapRequest(inputs: [.email: [], .phoneHash: []]),
                                                 nowMillis: Fixtures.now).get()
        #expect(results[.email] == [] && results[.phoneHash] == [])
    }

    @Test func identityMapV2AnswersByValueAndReportsShapesPerKind() throws {
        let (snapshot, _) = try Fixtures.snapshot(optOuts: [(.email, "gone@example.com")])
        func map(_ fields: [IdentityInputKind: IdentityMapV2Request.Field]) -> Result<IdentityMapV2Result, OperatorFailure> {
            snapshot.mapIdentitiesV2(IdentityMapV2Request(fields: fields), nowMillis: Fixtures.now)
        }
        let result = try map([.email: .values([.string("a@example.com"), .string("gone@example.com"), .string("nope"), .null])]).get()
        let expectedUID = snapshot.currentRawUID(snapshot.resolve(IdentityHash(kind: .email, value: "a@example.com")!))
        #expect(result.mapped.map(\.identifier) == ["a@example.com"] && result.mapped.first?.advertisingID.bytes == expectedUID)
        #expect(result.mapped.first?.bucketID == snapshot.resolve(IdentityHash(kind: .email, value: "a@example.com")!).bucket.id)
        #expect(result.unmapped.map(\.identifier) == ["gone@example.com", "nope", "null"])
        #expect(result.unmapped.map(\.reason) == ["optout", "invalid identifier", "invalid identifier"])

        let exactlyOne = OperatorFailure.clientError("Required Parameter Missing: exactly one of [email, email_hash, phone, phone_hash] must be specified")
        #expect(map([:]).failure == exactlyOne)
        #expect(map([.email: .values([.string("a@b.com")]), .phone: .values([.string("+12345678901")])]).failure == exactlyOne)
        #expect(try map([.email: .values([]), .phone: .values([.string("+12345678901")])]).get().mapped.count == 1, "an empty kind beside a full one is fine")
        #expect(try map([.email: .values([])]).get() == IdentityMapV2Result(), "named but empty: nothing mapped")
        #expect(map([.emailHash: .notAnArray]).failure == .clientError("email_hash must be an array"))
        #expect(map([.phone: .notStrings]).failure == .clientError("phone must be an array of strings"))

        var noPhones = OperatorConfig()
        noPhones.phoneSupport = false
        let (emailOnly, _) = try Fixtures.snapshot(config: noPhones)
        #expect(emailOnly.mapIdentitiesV2(IdentityMapV2Request(fields: [.phone: .values([.string("+12345678901")])]), nowMillis: Fixtures.now).failure
                == exactlyOne, "phones are not a kind without phone support")
    }

    @Test func batchLimitIsEnforced() throws {
        var config = OperatorConfig()
        config.identityMapMaxBatchSize = 3
        let (snapshot, _) = try Fixtures.snapshot(config: config)
        let tooMany = IdentityMapRequest(inputs: [.email: ["a@b.com", "c@d.com"], .phone: ["+12345678901", "+12345678902"]])
        #expect(snapshot.mapIdentities(tooMany, nowMillis: Fixtures.now).failure?.message.hasPrefix("Request payload is too large") == true)
        let tooManyV2 = IdentityMapV2Request(fields: [.email: .values([.string("a@b.com"), .string("c@d.com"), .string("e@f.com"), .null])])
        #expect(snapshot.mapIdentitiesV2(tooManyV2, nowMillis: Fixtures.now).failure?.message.hasPrefix("Request payload is too large") == true)
    }

    @Test func bucketIDsUseTheFixtureHashids() throws {
        var (contents, _) = Fixtures.contents()
        var salts = SaltTable(firstLevelSalt: Array("x".utf8), idPrefix: "b", idSecret: "HF6Qz42HBbVHINxhh191dB09BCuTWyBkNtrNicO4ZCw=")
        for id in Int64(1_000_000)...1_000_004 {
            salts.append(SaltTable.Entry(id: id, lastUpdatedMillis: id == 1_000_002 ? 2_000 : 1_000, refreshFromMillis: 0, currentSalt: Array("s".utf8)))
        }
        contents.salts = salts
        let snapshot = try OperatorSnapshot(config: OperatorConfig(), contents: contents)
        #expect(snapshot.publicBucketID(1_000_000) == "bKaoveQoPR")
        #expect(snapshot.publicBucketID(1_000_004) == "be58Mjz13q")
        #expect(snapshot.bucketsUpdated(sinceMillis: 1_500).map(\.bucketID) == ["bv3WM92zaA"])
        #expect(snapshot.bucketsUpdated(sinceMillis: 0).count == 5)
    }

    @Test func keyVisibilityFollowsTheReferenceRules() throws {
        var (contents, _) = Fixtures.contents()
        let now = Fixtures.now / 1000
        contents.keysets += [
            Keyset(id: 10, siteID: 500, name: "shared with 600", allowedSites: [600], createdSeconds: now, enabled: true, isDefault: true),
            Keyset(id: 11, siteID: 501, name: "private", allowedSites: [], createdSeconds: now, enabled: true, isDefault: true),
            Keyset(id: 12, siteID: 502, name: "disabled", allowedSites: nil, createdSeconds: now, enabled: false, isDefault: false),
            Keyset(id: 13, siteID: 600, name: "caller's", allowedSites: [], createdSeconds: now, enabled: true, isDefault: true),
        ]
        contents.keys += [10, 11, 12, 13].map { InitialDataset.newKey(id: Int32(100 + $0), keysetID: Int32($0), nowSeconds: now) }
        contents.sites.append(Site(id: 500, name: "five hundred", domainNames: ["b.com", "a.com"]))
        let snapshot = try OperatorSnapshot(config: OperatorConfig(), contents: contents)
        func client(site: Int32, roles: Set<Role>) -> ClientKey {
            var client = contents.clients[0]
            client.siteID = site
            client.roles = roles
            return client
        }
        let reader = snapshot.publishedKeys(for: client(site: 600, roles: [.idReader]))
        // master (1), fallback publisher (3, allowed null), site 999 (4, allowed null), 110 (allows 600), 113 (own)
        #expect(reader.map(\.key.id) == [1, 3, 4, 110, 113])
        #expect(!reader.contains { $0.key.keysetID == Keyset.refreshKeysetID })
        #expect(reader.first { $0.key.id == 1 }?.visibleKeysetID == Keyset.masterKeysetIDForSDKs)
        #expect(reader.first { $0.key.id == 113 }?.visibleKeysetID == 13)
        #expect(reader.first { $0.key.id == 110 }?.visibleKeysetID == nil)

        let sharer = snapshot.publishedKeys(for: client(site: 600, roles: [.sharer]))
        #expect(sharer.map(\.key.id) == [1, 110, 113], "allowed_sites null opens a keyset to ID readers only")

        let sharing = try snapshot.sharingKeys(for: client(site: 600, roles: [.sharer]), nowMillis: Fixtures.now).get()
        #expect(sharing.defaultKeysetID == 13 && sharing.tokenExpirySeconds == 2_592_000 && sharing.maxSharingLifetimeSeconds == 2_592_010)
        #expect(sharing.siteData == [SiteData(id: 500, domainNames: ["a.com", "b.com"])])
        let bidstream = try snapshot.bidstreamKeys(for: client(site: 600, roles: [.idReader]), nowMillis: Fixtures.now).get()
        #expect(bidstream.maxBidstreamLifetimeSeconds == snapshot.config.lifetimes.identityTokenExpiresAfterSeconds + 10)
        #expect(snapshot.latestKeys(for: client(site: 2, roles: [.idReader]), nowMillis: Fixtures.now).failure?.kind == .invalidClient)
    }

    @Test func optOutOverlayIsSeenEverywhereAndSharesTheRest() throws {
        let (snapshot, client) = try Fixtures.snapshot()
        let fields = IdentityFields(email: .string("leaving@example.com"))
        let record = try snapshot.optOutRecord(for: fields, nowMillis: Fixtures.now).get()
        #expect(snapshot.optOutRecord(for: IdentityFields(), nowMillis: Fixtures.now).failure?.kind == .invalidToken)
        let updated = snapshot.addingOptOut(firstLevelHash: record.firstLevelHash, advertisingID: record.advertisingID, optedOutSinceSeconds: record.optedOutSinceSeconds)
        #expect(snapshot.generateToken(GenerateTokenRequest(identity: fields), client: client, nowMillis: Fixtures.now).value != .optOut)
        #expect(updated.generateToken(GenerateTokenRequest(identity: fields), client: client, nowMillis: Fixtures.now).value == .optOut)
        #expect(updated.mapIdentity(kind: .email, value: "leaving@example.com", nowMillis: Fixtures.now) == .optOut)
        let uid = Base64.encode(try #require(record.advertisingID))
        let status = try updated.optOutStatus(advertisingIDs: [uid, Base64.encode([UInt8](repeating: 1, count: 32))]).get()
        #expect(status.count == 1 && status[0].advertisingID == uid && status[0].optedOutSinceMillis == Fixtures.now / 1000 * 1000)
        #expect(updated.salts.count == snapshot.salts.count)

        // A background fold moves the overlay into the main index; what arrived meanwhile stays.
        let flh = { (index: Int) in Array(SHA256.hash(data: [UInt8(index & 0xFF), UInt8(index >> 8)])) }
        var current = updated
        for index in 0..<300 {
            current = current.addingOptOut(firstLevelHash: flh(index), advertisingID: nil, optedOutSinceSeconds: 5)
        }
        let folded = current.foldingRecentOptOuts()
        let arrivedMeanwhile = current.addingOptOut(firstLevelHash: flh(1_000), advertisingID: nil, optedOutSinceSeconds: 6)
        let adopted = arrivedMeanwhile.adoptingFoldedOptOuts(folded, from: current)
        #expect(adopted.recentOptOuts.count == 1 && adopted.optOuts.count == 301)
        #expect(adopted.optedOutSince(firstLevelHash: record.firstLevelHash) == record.optedOutSinceSeconds)
        #expect(adopted.optedOutSince(firstLevelHash: flh(7)) == 5)
        #expect(adopted.optedOutSince(firstLevelHash: flh(1_000)) == 6)
        #expect(adopted.optedOutSince(advertisingID: try #require(record.advertisingID)) == record.optedOutSinceSeconds)
        // A fold built on a main index since replaced is not used.
        let stale = updated.adoptingFoldedOptOuts(folded, from: current)
        #expect(stale.optedOutSince(firstLevelHash: flh(7)) == nil)

        // Without a background fold, a large enough batch folds on the spot and stays visible.
        let many = (0..<17_000).map { OptOutRecord(firstLevelHash: flh($0), advertisingID: nil, optedOutSinceSeconds: 8) }
        let large = adopted.addingOptOuts(many)
        #expect(large.recentOptOuts.count == 0)
        #expect(large.optedOutSince(firstLevelHash: flh(16_999)) == 8)
        #expect(large.optedOutSince(firstLevelHash: flh(1_000)) == 6)
    }

    @Test func optOutStatusLimit() throws {
        var config = OperatorConfig()
        config.optOutStatusMaxRequestSize = 2
        let (snapshot, _) = try Fixtures.snapshot(config: config)
        #expect(snapshot.optOutStatus(advertisingIDs: ["a", "b", "c"]).failure == .clientError("Request payload is too large"))
    }
}
