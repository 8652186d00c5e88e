import Foundation
import Hummingbird
import UIDOperatorCore
import UIDProtocol

/// Key distribution: `/v2/key/bidstream` (DSPs), `/v2/key/sharing` (sharers), `/v2/key/latest` (legacy).
struct KeyRoutes: Sendable {
    let endpoint: EncryptedEndpoint

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v2/key/bidstream") { request, _ in
            await respond(request, roles: [.idReader]) { snapshot, client, now in
                snapshot.bidstreamKeys(for: client, nowMillis: now).map(BidstreamBody.init)
            }
        }
        router.post("/v2/key/sharing") { request, _ in
            await respond(request, roles: [.sharer, .idReader]) { snapshot, client, now in
                snapshot.sharingKeys(for: client, nowMillis: now).map(SharingBody.init)
            }
        }
        router.post("/v2/key/latest") { request, _ in
            await respond(request, roles: [.idReader]) { snapshot, client, now in
                snapshot.latestKeys(for: client, nowMillis: now).map { $0.map { KeyBody($0, keysetID: nil, siteID: $0.siteID) } }
            }
        }
    }

    /// The payload of key requests carries nothing the answer depends on, but like every envelope's
    /// it must be a JSON object (or absent), as with the reference.
    private func respond<Body: Encodable>(
        _ request: Request, roles: [Role],
        _ build: @escaping (OperatorSnapshot, ClientKey, Int64) -> Result<Body, OperatorFailure>
    ) async -> Response {
        await endpoint.respond(to: request, roles: roles) { call -> EncryptedEndpoint.Outcome in
            _ = try call.decode(AnyJSONObject.self)
            let body = try build(call.snapshot, call.client, call.nowMillis).get()
            return .json(try JSONCoding.encoder.encode(StatusResponse.success(body)))
        }
    }
}

struct KeyBody: Encodable {
    let id: Int32
    let created: Int64
    let activates: Int64
    let expires: Int64
    let secret: String
    let keyset_id: Int32?
    let site_id: Int32?

    init(_ published: PublishedKey, keysetID: Int32?, siteID: Int32?) {
        id = published.key.id
        created = published.key.createdSeconds
        activates = published.key.activatesSeconds
        expires = published.key.expiresSeconds
        secret = Base64.encode(published.key.secret)
        keyset_id = keysetID
        site_id = siteID
    }
}

struct SiteDataBody: Encodable {
    let id: Int32
    let domain_names: [String]

    init(_ data: SiteData) {
        id = data.id
        domain_names = data.domainNames
    }
}

struct SharingBody: Encodable {
    let caller_site_id: Int32
    let master_keyset_id: Int32
    let default_keyset_id: Int32?
    /// A string for older SDKs, as the reference sends it.
    let token_expiry_seconds: String
    let max_sharing_lifetime_seconds: Int64
    let identity_scope: String
    let allow_clock_skew_seconds: Int64
    let keys: [KeyBody]
    let site_data: [SiteDataBody]?

    init(_ keys: SharingKeys) {
        caller_site_id = keys.callerSiteID
        master_keyset_id = Keyset.masterKeysetIDForSDKs
        default_keyset_id = keys.defaultKeysetID
        token_expiry_seconds = String(keys.tokenExpirySeconds)
        max_sharing_lifetime_seconds = keys.maxSharingLifetimeSeconds
        identity_scope = keys.identityScope.displayName
        allow_clock_skew_seconds = keys.allowClockSkewSeconds
        self.keys = keys.keys.map { KeyBody($0, keysetID: $0.visibleKeysetID, siteID: nil) }
        site_data = keys.siteData?.map(SiteDataBody.init)
    }
}

struct BidstreamBody: Encodable {
    let max_bidstream_lifetime_seconds: Int64
    let identity_scope: String
    let allow_clock_skew_seconds: Int64
    let keys: [KeyBody]
    let site_data: [SiteDataBody]?

    init(_ keys: BidstreamKeys) {
        max_bidstream_lifetime_seconds = keys.maxBidstreamLifetimeSeconds
        identity_scope = keys.identityScope.displayName
        allow_clock_skew_seconds = keys.allowClockSkewSeconds
        self.keys = keys.keys.map { KeyBody($0, keysetID: nil, siteID: nil) }
        site_data = keys.siteData?.map(SiteDataBody.init)
    }
}
