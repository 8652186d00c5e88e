import Foundation
import UIDOperatorCore
import UIDProtocol
@testable import UIDStore

/// A core data set the project makes itself: a seeded store widened with what the format can
/// express (several sites, keysets with and without `allowed_sites`, disabled entries, 16-byte
/// secrets, client-side key pairs, salt buckets with previous salts and v4 key material), written
/// with `CoreExport` so the import tests read files this project produced.
struct GeneratedCore {
    static let now: Int64 = 1_767_225_600_000
    static let runtime = CoreImport.RuntimeConfigValues(
        identityTokenExpiresAfterSeconds: 3600, refreshTokenExpiresAfterSeconds: 86_400, refreshIdentityTokenAfterSeconds: 900,
        sharingTokenExpirySeconds: 2_592_000, maxBidstreamLifetimeSeconds: 7200, identityEnvironment: "integ"
    )

    let directory: URL
    let contents: StoreContents
    /// The seeded all-roles client of site 999.
    let credentials: ClientCredentials

    /// The salt file's name inside `salts/`.
    var saltFile: String { "salts/\(CoreExport.saltFileName(effectiveMillis: Self.now))" }

    static func make(bucketCount: Int = 5) throws -> GeneratedCore {
        let (contents, credentials) = widened(bucketCount: bucketCount)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("uidcore-\(UUID().uuidString)", isDirectory: true)
        try CoreExport.write(contents, runtimeConfig: runtime, to: directory, nowMillis: now)
        return GeneratedCore(directory: directory, contents: contents, credentials: credentials)
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }

    static func widened(bucketCount: Int) -> (StoreContents, ClientCredentials) {
        let seconds = now / 1000
        var (contents, credentials) = InitialDataset.generate(scope: .uid2, environment: .test, nowMillis: now, bucketCount: bucketCount)
        contents.sites += [
            Site(id: 123, name: "Publisher \"A\"", domainNames: ["localhost", "example.com"], appNames: ["com.example.app", "123456789"], createdSeconds: seconds),
            Site(id: 124, name: "Dormant", enabled: false, createdSeconds: seconds - 10),
        ]
        contents.keysets += [
            Keyset(id: 501, siteID: 123, name: "site 123 default", allowedSites: [999, 124], createdSeconds: seconds, enabled: true, isDefault: true),
            Keyset(id: 502, siteID: 123, name: "site 123 other", allowedSites: [], createdSeconds: seconds, enabled: true, isDefault: false),
            Keyset(id: 503, siteID: 124, name: "site 124", allowedSites: nil, createdSeconds: seconds, enabled: false, isDefault: true),
        ]
        contents.keys += [
            KeysetKey(id: 5, keysetID: 501, createdSeconds: seconds, activatesSeconds: seconds + 3600, expiresSeconds: seconds + 86_400, secret: APIKeyHasher.randomBytes(32))!,
            KeysetKey(id: 6, keysetID: 502, createdSeconds: seconds - 100, activatesSeconds: seconds - 100, expiresSeconds: seconds - 1, secret: APIKeyHasher.randomBytes(16))!,
            KeysetKey(id: 7, keysetID: 503, createdSeconds: seconds, activatesSeconds: seconds, expiresSeconds: seconds + 86_400, secret: APIKeyHasher.randomBytes(24))!,
        ]
        var reader = InitialDataset.newClient(scope: .uid2, environment: .test, siteID: 123, roles: [.idReader], name: "DSP", nowSeconds: seconds).0
        reader.serviceID = 2
        var dormant = InitialDataset.newClient(scope: .uid2, environment: .test, siteID: 124, roles: [.mapper, .sharer], name: "Dormant", nowSeconds: seconds).0
        dormant.disabled = true
        dormant.contact = "ops@example.com"
        contents.clients += [reader, dormant]
        var retired = ClientSideKeypair.generate(siteID: 124, scope: .uid2, environment: .test, nowSeconds: seconds)
        retired.disabled = true
        contents.keypairs = [ClientSideKeypair.generate(siteID: 123, scope: .uid2, environment: .test, nowSeconds: seconds), retired]

        var salts = SaltTable(firstLevelSalt: contents.salts.firstLevelSalt, idPrefix: contents.salts.idPrefix, idSecret: contents.salts.idSecret)
        for position in 0..<contents.salts.count {
            var entry = contents.salts[position]
            switch position % 4 {
            case 1:
                entry.previousSalt = Array("previous\(position)previous\(position)==".utf8)
            case 2:
                entry.currentSalt = nil
                entry.currentKey = SaltKeyMaterial(id: Int32(2_000_000 + position), key: Array("key12345key12345key12345key1234\(position % 10)".utf8), salt: Array("salt1234salt1234salt1234salt123\(position % 10)".utf8))
                entry.previousKey = SaltKeyMaterial(id: Int32(1_000_000 + position), key: Array("oldkey12oldkey12".utf8), salt: Array("oldsalt".utf8))
            case 3:
                entry.currentKey = SaltKeyMaterial(id: Int32(3_000_000 + position), key: Array("k".utf8 + [UInt8](repeating: UInt8(ascii: "x"), count: 23)), salt: Array("s".utf8))
            default:
                break
            }
            salts.append(entry)
        }
        contents.salts = salts
        return (contents, credentials)
    }
}
