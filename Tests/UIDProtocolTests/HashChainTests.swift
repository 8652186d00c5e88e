import Testing
@testable import UIDProtocol

/// docs/TEST-VECTORS.md#hashing-chain-and-raw-uids: vectors computed with the reference operator's own code.
@Suite struct HashChainTests {
    static let firstLevelSalt = Array("fOGY/aRE44peL23i+cE9MkJrzmEeNZZziNZBfq7qqk8=".utf8)
    static let bucketSalt = Array("vgv1BwiNRCW7F3VcNXHlZh+7oHJ4G4gCshbGcVOLnss=".utf8)
    static let material = SaltKeyMaterial(
        id: 2_100_002, key: Array("key12345key12345key12345key12340".utf8), salt: Array("salt1234salt1234salt1234salt1230".utf8)
    )

    func flh(_ kind: IdentityInputKind, _ value: String) -> [UInt8] {
        let hash = IdentityHash(kind: kind, value: value)!
        return HashChain.firstLevelHash(identityHash: hash.bytes, firstLevelSalt: Self.firstLevelSalt)
    }

    @Test func emailChain() {
        let hash = IdentityHash(kind: .email, value: "test@example.com")!
        #expect(Base64.encode(hash.bytes) == "lz3+Rj7IV4X1+Vr1ujkG7tstkxwk5pgkqJ6mXbpOgTs=")
        let flh = flh(.email, "test@example.com")
        #expect(Base64.encode(flh) == "RNzyiMMy106hy8MpBOsHBe+ZZkQR8IbUAG/IC2OrNr4=")
        #expect(HashChain.bucketIndex(firstLevelHash: flh, bucketCount: 1 << 20) == 282_050)
        #expect(HashChain.bucketIndex(firstLevelHash: flh, bucketCount: 5) == 0)
        #expect(Base64.encode(HashChain.rawUID(firstLevelHash: flh, salt: Self.bucketSalt, scope: .uid2, type: .email, v3: false))
                == "yCevINTMQ+BMfihNbXjrDLbm/FF+JvBan5YqmToByik=")
        #expect(Base64.encode(HashChain.rawUID(firstLevelHash: flh, salt: Self.bucketSalt, scope: .uid2, type: .email, v3: true))
                == "AMgnryDUzEPgTH4oTW146wy25vxRfibwWp+WKpk6Acop")
        #expect(Base64.encode(HashChain.rawUID(firstLevelHash: flh, salt: Self.bucketSalt, scope: .euid, type: .email, v3: true))
                == "EMgnryDUzEPgTH4oTW146wy25vxRfibwWp+WKpk6Acop")
    }

    @Test(arguments: [
        (IdentityScope.uid2, IdentityEnvironment.test, "ICALIuJZ1GuUlIjXoglTXcwtpw1DRqpEXDeMQ2mYkUDz"),
        (.uid2, .integ, "YCALIrKWuXczr5H2zr3zyJ2RFFAnL400x6r0NoZ3ZFSn"),
        (.uid2, .prod, "oCALImM9K1AHZLtStVusMrnahOjVUj0GDUEOl9/usH7v"),
        (.euid, .test, "MCALIoeuOY4DnipcfAWVSUKgmLLNuEnMKOKprFtMdrLN"),
        (.euid, .integ, "cCALIs4Rm5NAOzIzmW9Jjqt66OWm5NX1OTFpArwDzsmA"),
        (.euid, .prod, "sCALIpicDBxmo2CavV7wnNSU9plguYNmkQat3P6WzMeL"),
    ])
    func emailRawUIDv4(scope: IdentityScope, environment: IdentityEnvironment, expected: String) {
        let uid = RawUIDv4.make(firstLevelHash: flh(.email, "test@example.com"), material: Self.material,
                                scope: scope, type: .email, environment: environment)
        #expect(uid.map { Base64.encode($0) } == expected)
    }

    @Test func phoneChain() {
        let hash = IdentityHash(kind: .phone, value: "+12345678901")!
        #expect(Base64.encode(hash.bytes) == "EObwtHBUqDNZR33LNSMdtt5cafsYFuGmuY4ZLenlue4=")
        let flh = flh(.phone, "+12345678901")
        #expect(Base64.encode(flh) == "urve3oGxLtO2WGhlQFKMzqhXOdYqSB53Rrgqpp9CFjY=")
        #expect(HashChain.bucketIndex(firstLevelHash: flh, bucketCount: 1 << 20) == 764_862)
        #expect(HashChain.bucketIndex(firstLevelHash: flh, bucketCount: 5) == 2)
        #expect(Base64.encode(HashChain.rawUID(firstLevelHash: flh, salt: Self.bucketSalt, scope: .uid2, type: .phone, v3: false))
                == "EYgbUgD8Fu9NiQZaSo7Ea1EjNE9ClW74BHj0hNuK/Mg=")
        #expect(Base64.encode(HashChain.rawUID(firstLevelHash: flh, salt: Self.bucketSalt, scope: .uid2, type: .phone, v3: true))
                == "BBGIG1IA/BbvTYkGWkqOxGtRIzRPQpVu+AR49ITbivzI")
        #expect(Base64.encode(HashChain.rawUID(firstLevelHash: flh, salt: Self.bucketSalt, scope: .euid, type: .phone, v3: true))
                == "FBGIG1IA/BbvTYkGWkqOxGtRIzRPQpVu+AR49ITbivzI")
        #expect(RawUIDv4.make(firstLevelHash: flh, material: Self.material, scope: .uid2, type: .phone, environment: .test)
            .map { Base64.encode($0) } == "JCALIn2jvn98OvQPhijCPNLUHrq2SB09ftuzecdG7Vv7")
        #expect(RawUIDv4.make(firstLevelHash: flh, material: Self.material, scope: .euid, type: .phone, environment: .prod)
            .map { Base64.encode($0) } == "tCALImWUwT3Db2fuaiv4pIutgTP9H3MFTbJCRZfHigqg")
    }

    @Test func testIdentities() {
        #expect(Base64.encode(flh(.email, "validate@example.com")) == "FNRbc+HsgQYwm/ayjooe5zLbFPRUCPm587ODCTck9is=")
        #expect(Base64.encode(flh(.email, "optout@example.com")) == "5ihBI2GMPQ3CugqR0ezR6/WCMmZjXYNAQ0hC2jQ3smM=")
        #expect(Base64.encode(IdentityHash(kind: .email, value: "refresh-optout@example.com")!.bytes) == "NaNI8RU0bL1Jpp1jJLC5aJO/lchc6gGhgXQIAwJ7cV4=")
        #expect(Base64.encode(IdentityHash(kind: .phone, value: "+00000000000")!.bytes) == "313yQvZOTb0vjjEU7sTO/UWxGPzVppIbCyQEJEnfxLo=")
        #expect(Base64.encode(IdentityHash(kind: .phone, value: "+00000000002")!.bytes) == "0VoxsIuk88qt7TnZaTC//C9Vur3pR1zBMIr1cJe7xjE=")
    }

    /// V4TokenUtilsTest: FLH of test@example.com under another salt, key id 1000000, metadata 0x20.
    @Test func v4TokenUtilsVector() {
        let flh = HashChain.firstLevelHash(identityHash: IdentityHash(kind: .email, value: "test@example.com")!.bytes,
                                           firstLevelSalt: Array("salt1234salt1234salt1234salt1234".utf8))
        #expect(Base64.encode(flh) == "fRdq9nN35EI0ljuka8NSeoXR7H7X4uIw80SYLEtEsGA=")
        let material = SaltKeyMaterial(id: 1_000_000, key: Array("key12345key12345key12345key12345".utf8),
                                       salt: Array("salt1234salt1234salt1234salt1234".utf8))
        let uid = RawUIDv4.make(firstLevelHash: flh, material: material, metadata: 0x20)!
        #expect(uid.map { String(format: "%02x", $0) }.joined() == "200f424063b43fb268d166469febb81891969ba92df994bb14506f0beb0dccc836")
    }

    @Test func v4MetadataTable() {
        let expected: [(IdentityEnvironment, [UInt8])] = [(.test, [0x20, 0x24, 0x30, 0x34]), (.integ, [0x60, 0x64, 0x70, 0x74]), (.prod, [0xA0, 0xA4, 0xB0, 0xB4])]
        for (environment, bytes) in expected {
            let actual = [(IdentityScope.uid2, IdentityType.email), (.uid2, .phone), (.euid, .email), (.euid, .phone)]
                .map { RawUIDv4.metadataByte(scope: $0.0, type: $0.1, environment: environment) }
            #expect(actual == bytes)
        }
    }

    @Test func previousUIDWithin90Days() {
        let day: Int64 = 86_400_000
        let entry = SaltTable.Entry(id: 1, lastUpdatedMillis: 10 * day, refreshFromMillis: 40 * day,
                                    currentSalt: Self.bucketSalt, previousSalt: Array("old".utf8))
        let options = RawUIDOptions(scope: .uid2, identityV3: false, environment: .test)
        let flh = flh(.email, "test@example.com")
        #expect(entry.previousRawUID(firstLevelHash: flh, type: .email, options: options, asOfMillis: 99 * day + day - 1) != nil)
        #expect(entry.previousRawUID(firstLevelHash: flh, type: .email, options: options, asOfMillis: 100 * day) == nil)
    }
}
