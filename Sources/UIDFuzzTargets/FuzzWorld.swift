@preconcurrency import Crypto
import Foundation
import UIDOperatorCore
import UIDProtocol

/// The operator state every target runs against: a freshly generated data set (as a first start
/// makes), a client-side key pair for site 999, and a fixed clock, so inputs replay identically.
struct FuzzWorld: Sendable {
    static let nowMillis: Int64 = 1_750_000_000_000
    static let shared = FuzzWorld()

    let snapshot: OperatorSnapshot
    let credentials: ClientCredentials
    let clientSecret: SymmetricKey
    let keypair: ClientSideKeypair
    let originPolicy: OriginPolicy

    var keys: KeyRing { snapshot.keys }
    var nowSeconds: Int64 { Self.nowMillis / 1000 }

    private init() {
        var (contents, credentials) = InitialDataset.generate(
            scope: .uid2, environment: .test, nowMillis: Self.nowMillis, bucketCount: 64
        )
        let keypair = ClientSideKeypair.generate(siteID: InitialDataset.defaultSiteID, scope: .uid2, environment: .test, nowSeconds: Self.nowMillis / 1000)
        contents.keypairs = [keypair]
        contents.sites = contents.sites.map { site in
            var site = site
            site.domainNames = ["example.com"]
            site.appNames = ["com.example.app"]
            return site
        }
        // A generated data set always loads; a failure here is a bug in the harness itself.
        guard let snapshot = try? OperatorSnapshot(config: OperatorConfig(scope: .uid2), contents: contents),
              let secretBytes = Base64.decode(credentials.secret)
        else { fatalError("the fuzz world's generated data set did not load") }
        self.snapshot = snapshot
        self.credentials = credentials
        self.clientSecret = SymmetricKey(data: secretBytes)
        self.keypair = keypair
        self.originPolicy = OriginPolicy(publicSuffixList: PublicSuffixList(text: Self.suffixes))
    }

    /// Enough of the Public Suffix List to reach every rule kind: plain, multi-label, wildcard, exception.
    static let suffixes = """
        com
        org
        uk
        co.uk
        *.ck
        !www.ck
        *.kawasaki.jp
        !city.kawasaki.jp
        jp
        github.io
        """

    func key(keysetID: Int32) -> KeysetKey? { keys.activeKey(keysetID: keysetID, atSeconds: nowSeconds) }
    var masterKey: KeysetKey? { keys.activeMasterKey(atSeconds: nowSeconds) }
    var refreshKey: KeysetKey? { keys.activeRefreshKey(atSeconds: nowSeconds) }
    var siteKey: KeysetKey? { keys.activeSiteKey(siteID: InitialDataset.defaultSiteID, atSeconds: nowSeconds) }

    /// Real tokens for `user@example.com`, as generate answers them.
    var issuedTokens: IdentityTokens? {
        guard let identity = IdentityHash(kind: .email, value: "user@example.com") else { return nil }
        let resolved = snapshot.resolve(identity)
        let subject = TokenSubject(
            type: identity.type, firstLevelHash: resolved.firstLevelHash, publisher: PublisherIdentity(siteID: InitialDataset.defaultSiteID),
            privacyBits: .generated, establishedMillis: Self.nowMillis
        )
        return try? snapshot.issueTokens(for: subject, nowMillis: Self.nowMillis).get()
    }

    /// A v2 request envelope around `payload`, sealed with the fuzz client's secret at `timestamp`.
    func requestEnvelope(_ payload: [UInt8], timestamp: Int64 = FuzzWorld.nowMillis) -> [UInt8] {
        (try? RequestEnvelope.seal(payload: payload, timestampMillis: timestamp, nonce: [1, 2, 3, 4, 5, 6, 7, 8], secret: clientSecret)) ?? []
    }
}
