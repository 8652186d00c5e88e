import Foundation
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDStore

@Suite struct ImportTests {
    /// The reference operator's own core test data set (IABTechLab/uid2-operator,
    /// `src/test/resources/com.uid2.core/test`), for the tests that check the import against it.
    /// Not part of this repository: `UID_REFERENCE_FIXTURES` names the folder holding
    /// `com.uid2.core/test` (CI sets it when the data set is available); without it those tests
    /// are skipped. Every other test reads a data set this project generates (`GeneratedCore`).
    static let referenceDirectory: URL? = ProcessInfo.processInfo.environment["UID_REFERENCE_FIXTURES"]
        .flatMap { $0.isEmpty ? nil : $0 }
        .map { URL(fileURLWithPath: $0, isDirectory: true).appendingPathComponent("com.uid2.core/test", isDirectory: true) }
    static let hasReferenceData = referenceDirectory != nil

    /// 2026-01-01T00:00:00Z: both reference salt snapshots are in force; the later one is chosen.
    static let now: Int64 = 1_767_225_600_000

    static let fixtureAPIKey = "UID2-C-L-999-fCXrMM.fsR3mDqAXELtWWMS+xG1s7RdgRTMqdOH2qaAo="

    func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("uidimport-\(UUID().uuidString)", isDirectory: true)
    }

    func importReference() throws -> CoreImport.Imported {
        try CoreImport.read(directory: try #require(Self.referenceDirectory), nowMillis: Self.now)
    }

    // MARK: - Core import

    @Test(.enabled(if: hasReferenceData, "UID_REFERENCE_FIXTURES is not set: the reference's core data set is not available"))
    func importsTheReferenceDataSet() throws {
        var stages: [String] = []
        let imported = try CoreImport.read(directory: try #require(Self.referenceDirectory), nowMillis: Self.now) { stage, done, total in
            stages.append("\(stage) \(done)/\(total)")
        }
        let contents = imported.contents
        #expect(stages.contains("salts 5/5"))
        #expect(stages.contains("clients 8/8"))

        // Clients: hashes check out against the plaintext key the fixture carries; roles.
        #expect(contents.clients.count == 8)
        let special = try #require(contents.clients.first { $0.keyID == "UID2-C-L-999-fCXrM" })
        #expect(APIKeyHasher.hash(key: Self.fixtureAPIKey, salt: special.keySalt) == special.keyHash)
        #expect(Base64.encode(special.secret) == "DzBzbjTJcYL0swDtFs2krRNu+g1Eokm2tBU4dEuD0Wk=")
        #expect(special.siteID == 999 && special.name == "Special" && !special.disabled && special.serviceID == 0)
        #expect(special.roles == [.mapper, .generator, .idReader, .sharer, .optout, .unknown])
        #expect(contents.clients.first { $0.keyID == "UID2-C-L-126-Tv40p" }?.serviceID == 2)
        #expect(contents.clients.first { $0.keyID == "UID2-C-L-123-t32pC" }?.roles == [.idReader])
        // The two role strings the operator does not know are reported, and nothing else is unknown.
        #expect(imported.warnings.filter { $0.contains("unknown role") }.count == 2)
        #expect(imported.warnings.contains { $0.contains("\"OPTOUT_CHECKER\"") })
        #expect(imported.warnings.contains { $0.contains("\"THIS_IS_NOT_A_REAL_ROLE\"") })
        #expect(imported.warnings.contains { $0.hasPrefix("services:") })

        // Keysets and keys.
        #expect(contents.keysets.count == 11)
        #expect(contents.keys.count == 11)
        let master = try #require(contents.keysets.first { $0.id == -1 })
        #expect(master.allowedSites == nil && master.isDefault && master.enabled && master.name == "Master keyset")
        #expect(contents.keysets.first { $0.id == 901 }?.allowedSites == [123])
        #expect(contents.keysets.first { $0.id == 503 }?.enabled == false)
        #expect(contents.keysets.first { $0.id == -2 }?.allowedSites == [-1, -2, 2, 3, 4, 5, 6, 7, 8])
        let key101 = try #require(contents.keys.first { $0.id == 101 })
        #expect(key101.keysetID == -1 && key101.createdSeconds == 1_622_691_044)
        #expect(key101.activatesSeconds == 1_687_635_529 && key101.expiresSeconds == 4_088_629_662)
        #expect(Base64.encode(key101.secret) == "vPdQIoN1nTwXIQoH4/GcHOAct7ymyrGUKXNQhgmq+E8=")
        // Key 11's secret ends in non-zero trailing bits; Java's decoder accepts it, and so do we.
        let key11 = try #require(contents.keys.first { $0.id == 11 })
        #expect(key11.secret.count == 32 && key11.expiresSeconds == 1_715_756_163)
        #expect(contents.keys.map(\.id) == [101, 102, 103, 104, 5, 6, 7, 8, 9, 10, 11], "file order is kept")

        // Sites.
        #expect(contents.sites.count == 5)
        let site123 = try #require(contents.sites.first { $0.id == 123 })
        #expect(site123.name == "MegaTest Site" && site123.enabled)
        #expect(site123.domainNames == ["localhost", "uidapi.com"])
        #expect(site123.appNames == ["com.123.Game.App.android", "123456789", "com.123.Game.App.ios", "com.uid2.devapp"])
        #expect(contents.sites.first { $0.id == 124 }?.domainNames == [])

        // Client-side key pairs keep their prefixes.
        let keypair = try #require(contents.keypairs.first)
        #expect(contents.keypairs.count == 1)
        #expect(keypair.subscriptionID == "4WvryDGbR5" && keypair.siteID == 123 && keypair.contact == "test@email.com")
        #expect(keypair.publicKeyText.hasPrefix("UID2-X-L-MFkw") && keypair.privateKeyText.hasPrefix("UID2-Y-L-MEEC"))
        #expect(keypair.createdSeconds == 1_692_034_991 && !keypair.disabled)

        // Salts.
        let salts = contents.salts
        #expect(salts.count == 5)
        #expect((0..<5).map { salts[$0].id } == [1_000_000, 1_000_001, 1_000_002, 1_000_003, 1_000_004])
        #expect(String(decoding: salts.firstLevelSalt, as: UTF8.self) == "fOGY/aRE44peL23i+cE9MkJrzmEeNZZziNZBfq7qqk8=")
        #expect(salts.idPrefix == "b" && salts.idSecret == "HF6Qz42HBbVHINxhh191dB09BCuTWyBkNtrNicO4ZCw=")
        #expect(salts[0].currentSalt == Array("vgv1BwiNRCW7F3VcNXHlZh+7oHJ4G4gCshbGcVOLnss=".utf8))
        #expect(salts[0].previousSalt == Array("vgv1BwiNRCW7F3VcNXHlZh+7oHJ4G4gCshbGcVOLnsS=".utf8))
        #expect(salts[0].lastUpdatedMillis == 1_806_364_800_001 && salts[0].refreshFromMillis == 1_814_140_800_000)
        #expect(salts[1].previousSalt == nil && salts[1].currentKey == nil)
        let bucket = salts[2]
        #expect(bucket.currentSalt == nil && bucket.previousSalt == nil)
        #expect(bucket.currentKey == SaltKeyMaterial(
            id: 2_100_002, key: Array("key12345key12345key12345key12340".utf8), salt: Array("salt1234salt1234salt1234salt1230".utf8)
        ))
        #expect(bucket.previousKey == SaltKeyMaterial(
            id: 2_000_002, key: Array("key12345key12345key12345key12345".utf8), salt: Array("salt1234salt1234salt1234salt1234".utf8)
        ))
        #expect(salts[3].currentKey?.id == 2_000_003 && salts[3].previousKey == nil)
        #expect(salts[4].previousSalt == Array("vgv1BwiNRCW7F3VcNXHlZh+7oHJ4G4gCshbGcVOLnsw=".utf8) && salts[4].currentKey?.id == 2_000_004)

        // Runtime config.
        let runtime = try #require(imported.runtimeConfig)
        #expect(runtime == CoreImport.RuntimeConfigValues(
            identityTokenExpiresAfterSeconds: 3600, refreshTokenExpiresAfterSeconds: 86_400,
            refreshIdentityTokenAfterSeconds: 900, sharingTokenExpirySeconds: 2_592_000, identityEnvironment: "test"
        ))
        #expect(runtime.environment == .test)

        #expect(contents.optOuts.count == 0)
    }

    @Test(.enabled(if: hasReferenceData, "UID_REFERENCE_FIXTURES is not set: the reference's core data set is not available"))
    func importedReferenceDataDrivesASnapshot() throws {
        let imported = try importReference()
        let config = OperatorConfig(environment: .test, lifetimes: try #require(imported.runtimeConfig).lifetimes)
        let snapshot = try OperatorSnapshot(config: config, contents: imported.contents)

        // docs/TEST-VECTORS.md#hashing-chain-and-raw-uids: test@example.com.
        let hash = try #require(IdentityHash(kind: .email, value: "test@example.com"))
        #expect(Base64.encode(hash.bytes) == "lz3+Rj7IV4X1+Vr1ujkG7tstkxwk5pgkqJ6mXbpOgTs=")
        let resolved = snapshot.resolve(hash)
        #expect(Base64.encode(resolved.firstLevelHash) == "RNzyiMMy106hy8MpBOsHBe+ZZkQR8IbUAG/IC2OrNr4=")
        #expect(resolved.bucketIndex == 0)
        #expect(resolved.bucket.id == 1_000_000)
        #expect(snapshot.currentRawUID(resolved).map { Base64.encode($0) } == "yCevINTMQ+BMfihNbXjrDLbm/FF+JvBan5YqmToByik=")

        // +12345678901 lands in bucket 2 (v4 key material).
        let phone = snapshot.resolve(try #require(IdentityHash(kind: .phone, value: "+12345678901")))
        #expect(Base64.encode(phone.firstLevelHash) == "urve3oGxLtO2WGhlQFKMzqhXOdYqSB53Rrgqpp9CFjY=")
        #expect(phone.bucketIndex == 2)
        #expect(snapshot.currentRawUID(phone).map { Base64.encode($0) } == "JCALIn2jvn98OvQPhijCPNLUHrq2SB09ftuzecdG7Vv7")

        let client = try #require(snapshot.clients.client(forAPIKey: Self.fixtureAPIKey))
        #expect(client.keyID == "UID2-C-L-999-fCXrM")
        #expect(snapshot.clients.client(forAPIKey: "UID2-C-L-999-fCXrMM.not-the-key") == nil)

        // Keys: the master key is active now; keyset 901's only key expired in 2024.
        #expect(snapshot.keys.activeMasterKey(atSeconds: Self.now / 1000)?.id == 101)
        #expect(snapshot.keys.activeKey(keysetID: 901, atSeconds: Self.now / 1000) == nil)
        #expect(snapshot.keypairs["4WvryDGbR5"]?.siteID == 123)
    }

    /// `export core` writes what `import core` reads back unchanged.
    @Test func exportedCoreImportsBackUnchanged() throws {
        let core = try GeneratedCore.make(bucketCount: 9)
        defer { core.remove() }
        var stages: [String] = []
        let imported = try CoreImport.read(directory: core.directory, nowMillis: Self.now) { stage, done, total in
            stages.append("\(stage) \(done)/\(total)")
        }
        #expect(stages.contains("salts 9/9") && stages.contains("clients 3/3") && stages.contains("client_side_keypairs 2/2"))
        #expect(imported.warnings.isEmpty, "\(imported.warnings)")
        #expect(imported.runtimeConfig == GeneratedCore.runtime)
        Self.expectSame(imported.contents, core.contents)

        let client = try #require(imported.contents.clients.first { $0.keyID == core.credentials.keyID })
        #expect(APIKeyHasher.hash(key: core.credentials.apiKey, salt: client.keySalt) == client.keyHash)

        // Files hold secrets: owner-only.
        let attributes = try FileManager.default.attributesOfItem(atPath: core.directory.appendingPathComponent("clients/clients.json").path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(throws: CoreExport.Failure.self, "a second export into the same folder is refused") {
            try CoreExport.write(core.contents, runtimeConfig: nil, to: core.directory, nowMillis: Self.now)
        }
    }

    /// Everything `CoreImport` keeps, compared field by field (`ClientKey` and `KeysetKey` carry
    /// derived crypto keys and are not `Equatable`).
    static func expectSame(_ back: StoreContents, _ original: StoreContents, keysInFileOrder: Bool = true) {
        // A store returns rows in its own order; a file import keeps the file's.
        #expect(keysInFileOrder ? back.sites == original.sites : back.sites.sorted { $0.id < $1.id } == original.sites.sorted { $0.id < $1.id })
        #expect(keysInFileOrder ? back.keysets == original.keysets : back.keysets.sorted { $0.id < $1.id } == original.keysets.sorted { $0.id < $1.id })
        #expect(back.clients.count == original.clients.count)
        for client in original.clients {
            guard let other = back.clients.first(where: { $0.keyID == client.keyID }) else {
                Issue.record("client \(client.keyID) is missing")
                continue
            }
            #expect(other.keyHash == client.keyHash && other.keySalt == client.keySalt && other.secret == client.secret)
            #expect(other.roles == client.roles && other.siteID == client.siteID && other.serviceID == client.serviceID)
            #expect(other.name == client.name && other.contact == client.contact && other.disabled == client.disabled)
            #expect(other.createdSeconds == client.createdSeconds)
        }
        let originalKeys = keysInFileOrder ? original.keys : original.keys.sorted { $0.id < $1.id }
        #expect(back.keys.map(\.id) == originalKeys.map(\.id))
        for (other, key) in zip(back.keys, originalKeys) {
            #expect(other.keysetID == key.keysetID && other.secret == key.secret && other.createdSeconds == key.createdSeconds)
            #expect(other.activatesSeconds == key.activatesSeconds && other.expiresSeconds == key.expiresSeconds)
        }
        #expect(back.keypairs.count == original.keypairs.count)
        for keypair in original.keypairs {
            let other = back.keypairs.first { $0.subscriptionID == keypair.subscriptionID }
            #expect(other?.publicKeyText == keypair.publicKeyText && other?.privateKeyText == keypair.privateKeyText)
            #expect(other?.siteID == keypair.siteID && other?.disabled == keypair.disabled && other?.createdSeconds == keypair.createdSeconds)
            #expect(other?.contact == keypair.contact && other?.name == keypair.name)
        }
        #expect(back.salts.count == original.salts.count)
        for position in 0..<min(back.salts.count, original.salts.count) { #expect(back.salts[position] == original.salts[position]) }
        #expect(back.salts.firstLevelSalt == original.salts.firstLevelSalt)
        #expect(back.salts.idPrefix == original.salts.idPrefix && back.salts.idSecret == original.salts.idSecret)
    }

    // MARK: - Salt snapshot choice and malformed input

    @Test func saltSnapshotInForce() {
        typealias Spec = CoreImport.Reader.SaltSnapshotSpec
        let a = Spec(effective: 100, expires: 1_000, location: "a", size: nil, index: 0)
        let b = Spec(effective: 200, expires: 1_000, location: "b", size: nil, index: 1)
        let expiredFirst = Spec(effective: 50, expires: 60, location: "x", size: nil, index: 2)
        func pick(_ specs: [Spec], _ now: Int64) -> String? { CoreImport.Reader.snapshotInForce(specs, nowMillis: now)?.location }
        #expect(pick([b, a], 150) == "a")
        #expect(pick([b, a], 250) == "b")
        #expect(pick([a, b], 50) == "b", "nothing in force yet: the newest")
        #expect(pick([a, b], 1_000) == "b", "all expired: the newest")
        #expect(pick([a, b, expiredFirst], 250) == "b", "the reference stops at the first snapshot not in force")
        #expect(pick([], 0) == nil)
    }

    /// A generated core data set that a test may damage (removed by the caller).
    func generatedCopy(bucketCount: Int = 5) throws -> GeneratedCore {
        try GeneratedCore.make(bucketCount: bucketCount)
    }

    func failure(_ directory: URL) -> CoreImport.Failure? {
        do {
            _ = try CoreImport.read(directory: directory, nowMillis: Self.now)
            return nil
        } catch let failure as CoreImport.Failure {
            return failure
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    /// Rewrites a JSON data file of `directory` through `change`.
    func editEntries(_ directory: URL, _ relative: String, _ change: (inout [[String: Any]]) -> Void) throws {
        let url = directory.appendingPathComponent(relative)
        var entries = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[String: Any]])
        change(&entries)
        try JSONSerialization.data(withJSONObject: entries).write(to: url)
    }

    @Test func malformedInputFailsWithFileAndPlace() throws {
        let core = try generatedCopy()
        defer { core.remove() }
        let directory = core.directory
        let saltFile = core.saltFile
        let fm = FileManager.default
        func write(_ relative: String, _ text: String) throws {
            try Data(text.utf8).write(to: directory.appendingPathComponent(relative))
        }
        let originalSalts = try Data(contentsOf: directory.appendingPathComponent(saltFile))
        let originalClients = try Data(contentsOf: directory.appendingPathComponent("clients/clients.json"))
        let originalKeysets = try Data(contentsOf: directory.appendingPathComponent("keysets/keysets.json"))

        // A data file that is missing is named.
        try fm.removeItem(at: directory.appendingPathComponent("keysets/keysets.json"))
        var found = try #require(failure(directory))
        #expect(found.file == "keysets/metadata.json" && found.message.contains("keysets.json"))
        try originalKeysets.write(to: directory.appendingPathComponent("keysets/keysets.json"))

        // Bad salt lines: line numbers.
        try write(saltFile, "1,2,abc,3\n2,notanumber,abc\n")
        found = try #require(failure(directory))
        #expect(found.file == saltFile && found.message.hasPrefix("line 2:"))
        try write(saltFile, "1,2,,3,,5,key12345key12345key12345key12340\n")
        found = try #require(failure(directory))
        #expect(found.message.contains("incomplete current key material"))
        try write(saltFile, "1,2,salt,3,,,,,,,,extra\n")
        found = try #require(failure(directory))
        #expect(found.message.contains("more than 11 fields"))
        try write(saltFile, "1,2,,3\n")
        found = try #require(failure(directory))
        #expect(found.message.contains("neither a current salt nor current key material"))

        // Older, shorter lines, CRLF and a trailing blank line are fine; the size mismatch is a warning.
        try write(saltFile, "7,1000,oldsalt\r\n8,2000,salt8,3000\r\n\r\n")
        let short = try CoreImport.read(directory: directory, nowMillis: Self.now)
        #expect(short.contents.salts.count == 2)
        #expect(short.contents.salts[0] == SaltTable.Entry(id: 7, lastUpdatedMillis: 1000, refreshFromMillis: 0, currentSalt: Array("oldsalt".utf8)))
        #expect(short.contents.salts[1].refreshFromMillis == 3000)
        #expect(short.warnings.contains { $0.contains("metadata says 5 buckets, the file has 2") })

        // Encrypted store files are refused, by name.
        try write(saltFile, #"{"key_id": 3, "encrypted_payload": "AAAA"}"#)
        found = try #require(failure(directory))
        #expect(found.message.contains("encrypted store files are not supported"))
        try originalSalts.write(to: directory.appendingPathComponent(saltFile))
        try write("clients/clients.json", #"{"key_id": 1, "encrypted_payload": "AAAA"}"#)
        found = try #require(failure(directory))
        #expect(found.file == "clients/clients.json" && found.message.contains("encrypted store files are not supported"))

        // JSON problems name the entry.
        try write("clients/clients.json", "[{\"key_id\": \"a\"}]")
        found = try #require(failure(directory))
        #expect(found.description == "clients/clients.json: entry 1 (key_id a): missing \"key_hash\"")
        try write("clients/clients.json", "[{")
        found = try #require(failure(directory))
        #expect(found.message.hasPrefix("not valid JSON"))
        let third = try #require(core.contents.clients.dropFirst(2).first)
        try originalClients.write(to: directory.appendingPathComponent("clients/clients.json"))
        try editEntries(directory, "clients/clients.json") { entries in
            if let index = entries.firstIndex(where: { $0["key_id"] as? String == third.keyID }) { entries[index]["site_id"] = "124" }
        }
        found = try #require(failure(directory))
        #expect(found.message == "entry 3 (key_id \(third.keyID)): \"site_id\" must be an integer, not a string")
        try originalClients.write(to: directory.appendingPathComponent("clients/clients.json"))

        // A second enabled default keyset for a site.
        try editEntries(directory, "keysets/keysets.json") { entries in
            if let index = entries.firstIndex(where: { $0["keyset_id"] as? Int == 502 }) { entries[index]["default"] = true }
        }
        found = try #require(failure(directory))
        #expect(found.message == "keysets 501 and 502 are both the enabled default keyset of site 123")

        // Not a core directory at all.
        #expect(failure(directory.appendingPathComponent("salts"))?.file == "clients/metadata.json")
    }

    // MARK: - Opt-out files

    func bytes(_ byte: UInt8, _ count: Int = 32) -> [UInt8] { [UInt8](repeating: byte, count: count) }

    @Test func optOutEntriesRoundTrip() throws {
        let flh1 = bytes(1), flh2 = bytes(2), flh3 = bytes(3), flh4 = bytes(4)
        let uid32 = bytes(0x11)
        let uidV3 = [0x04] + bytes(0x22)          // v3 UID2 phone prefix: survives
        let uidV4 = [0xA0] + bytes(0x33)          // v4 PROD: bits 7-6 do not fit in the format
        var file: [UInt8] = []
        file += OptOutFileReader.entry(firstLevelHash: flh1, advertisingID: uid32, seconds: 1_700_000_000)
        file += OptOutFileReader.entry(firstLevelHash: bytes(0), advertisingID: uid32, seconds: 1)        // "always opted out" marker
        file += OptOutFileReader.entry(firstLevelHash: flh2, advertisingID: uidV3, seconds: 1_700_000_001)
        file += OptOutFileReader.entry(firstLevelHash: bytes(0xFF), advertisingID: uid32, seconds: 2)     // "never" marker
        file += OptOutFileReader.entry(firstLevelHash: flh3, advertisingID: uidV4, seconds: (1 << 56) - 1)
        file += OptOutFileReader.entry(firstLevelHash: flh4, advertisingID: nil, seconds: 42)
        #expect(file.count == 6 * 72)

        // The layout of docs/PROTOCOL.md#opt-out-files.
        let second = Array(file[144..<216])
        #expect(Array(second[32..<64]) == bytes(0x22))
        #expect(Array(second[64..<71]) == [0x01, 0xF1, 0x53, 0x65, 0, 0, 0], "1_700_000_001 = 0x6553F101, little-endian")
        #expect(second[71] == 0x44, "version 1, first byte 0x04")

        let contents = try OptOutFileReader.parse(Data(file), file: "optout-delta-001.dat")
        #expect(contents.skippedSpecialEntries == 2)
        #expect(contents.records == [
            OptOutRecord(firstLevelHash: flh1, advertisingID: uid32, optedOutSinceSeconds: 1_700_000_000),
            OptOutRecord(firstLevelHash: flh2, advertisingID: uidV3, optedOutSinceSeconds: 1_700_000_001),
            // Only the low 6 bits of a 33-byte id's first byte are stored: 0xA0 reads back as 0x20.
            OptOutRecord(firstLevelHash: flh3, advertisingID: [0x20] + bytes(0x33), optedOutSinceSeconds: (1 << 56) - 1),
            OptOutRecord(firstLevelHash: flh4, advertisingID: nil, optedOutSinceSeconds: 42),
        ])
        #expect(try OptOutFileReader.read(Data(file), file: "x") == contents.records)

        // A 73-byte file is not an opt-out file.
        #expect(throws: OptOutFileReader.Failure.self) {
            try OptOutFileReader.read(Data(OptOutFileReader.entry(firstLevelHash: flh1, advertisingID: uid32, seconds: 1) + [0]), file: "broken.dat")
        }
        do {
            _ = try OptOutFileReader.read(Data(repeating: 0, count: 73), file: "broken.dat")
        } catch let failure as OptOutFileReader.Failure {
            #expect(failure.file == "broken.dat" && failure.message.contains("73"))
        }
        #expect(try OptOutFileReader.read(Data(), file: "empty.dat").isEmpty)
    }

    @Test func importOptOutsIsIdempotent() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        try store.replaceContents(with: GeneratedCore.widened(bucketCount: 5).0)

        let records = (1...50).map { index in
            OptOutRecord(firstLevelHash: bytes(UInt8(index)), advertisingID: index.isMultiple(of: 2) ? nil : bytes(UInt8(index), 33), optedOutSinceSeconds: Int64(1000 + index))
        }
        var file: [UInt8] = []
        for record in records { file += OptOutFileReader.entry(record) }
        let read = try OptOutFileReader.read(Data(file), file: "optout-partition-001.dat")
        #expect(try store.importOptOuts(read) == 50)
        #expect(try store.importOptOuts(read) == 0, "a second import adds nothing")

        // Duplicates in one batch count once; existing rows are left as they are.
        let update = [
            OptOutRecord(firstLevelHash: bytes(2), advertisingID: bytes(9), optedOutSinceSeconds: 5),
            OptOutRecord(firstLevelHash: bytes(3), advertisingID: bytes(8), optedOutSinceSeconds: 99_999),
            OptOutRecord(firstLevelHash: bytes(200), advertisingID: nil, optedOutSinceSeconds: 7),
            OptOutRecord(firstLevelHash: bytes(200), advertisingID: nil, optedOutSinceSeconds: 8),
        ]
        #expect(try store.importOptOuts(update) == 1)
        let optOuts = try store.loadContents().optOuts
        #expect(optOuts.count == 51)
        #expect(optOuts.optedOutSince(firstLevelHash: bytes(2)) == 1002)
        #expect(optOuts.optedOutSince(advertisingID: bytes(9)) == nil)
        #expect(optOuts.optedOutSince(firstLevelHash: bytes(3)) == 1003)
        #expect(optOuts.optedOutSince(advertisingID: [3] + bytes(3)) == 1003)
        #expect(optOuts.optedOutSince(firstLevelHash: bytes(200)) == 7)
        #expect(try store.optOutCount() == 51)

        #expect(throws: ImportRecordError.self) {
            try store.importOptOuts([OptOutRecord(firstLevelHash: [1, 2], advertisingID: nil, optedOutSinceSeconds: 0)])
        }
    }

    @Test func activationTiesOutOfIdOrderAreReported() throws {
        let secret = [UInt8](repeating: 1, count: 32)
        let keys = [
            KeysetKey(id: 9, keysetID: 1, createdSeconds: 0, activatesSeconds: 100, expiresSeconds: 999, secret: secret)!,
            KeysetKey(id: 4, keysetID: 1, createdSeconds: 0, activatesSeconds: 100, expiresSeconds: 999, secret: secret)!,
            KeysetKey(id: 3, keysetID: 2, createdSeconds: 0, activatesSeconds: 100, expiresSeconds: 999, secret: secret)!,
            KeysetKey(id: 5, keysetID: 1, createdSeconds: 0, activatesSeconds: 200, expiresSeconds: 999, secret: secret)!,
        ]
        let warnings = CoreImport.Reader.activationTieWarnings(keys, file: "k.json")
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("keys 9 and 4 of keyset 1") == true)
    }

    /// Writes a generated core directory (5 buckets in its metadata) whose salt file holds `count`
    /// buckets instead.
    func coreDirectory(bucketCount count: Int) throws -> URL {
        let core = try generatedCopy()
        let directory = core.directory
        var csv = ""
        csv.reserveCapacity(count * 80)
        for index in 0..<count {
            csv += "\(index + 1),1700000000000,salt\(index)salt\(index)salt\(index)xx=,1710000000000,,,,,,,\n"
        }
        try Data(csv.utf8).write(to: directory.appendingPathComponent(core.saltFile))
        return directory
    }

    @Test func saltProgressIsReportedEvery65536Buckets() throws {
        let directory = try coreDirectory(bucketCount: 140_000)
        defer { try? FileManager.default.removeItem(at: directory) }
        var events: [(Int, Int)] = []
        let imported = try CoreImport.read(directory: directory, nowMillis: Self.now) { stage, done, total in
            if stage == "salts" { events.append((done, total)) }
        }
        #expect(imported.contents.salts.count == 140_000)
        #expect(events.map(\.0) == [65_536, 131_072, 140_000])
        #expect(events.allSatisfy { $0.1 == 140_000 })
        #expect(imported.warnings.contains { $0.contains("metadata says 5 buckets, the file has 140000") })
    }

    /// `UID_IMPORT_BENCHMARK=1 swift test --filter fullSizeSaltImport`: 1 048 576 buckets, parsed
    /// and written to SQLite, with timings printed.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["UID_IMPORT_BENCHMARK"] != nil))
    func fullSizeSaltImport() throws {
        let directory = try coreDirectory(bucketCount: 1 << 20)
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = ContinuousClock()
        var imported: CoreImport.Imported?
        let read = try clock.measure { imported = try CoreImport.read(directory: directory, nowMillis: Self.now) }
        let storeDirectory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: storeDirectory) }
        let store = try SQLiteStore(directory: storeDirectory)
        let write = try clock.measure { try store.replaceContents(with: imported!.contents) }
        var loaded: StoreContents?
        let load = try clock.measure { loaded = try store.loadContents() }
        #expect(loaded?.salts.count == 1 << 20)
        print("1M buckets: read \(read), replaceContents \(write), loadContents \(load)")
    }

    // MARK: - Timing (reported, not asserted)

    @Test func generatedCoreImportTiming() throws {
        let core = try generatedCopy(bucketCount: 4096)
        defer { core.remove() }
        let clock = ContinuousClock()
        var imported: CoreImport.Imported?
        let read = try clock.measure { imported = try CoreImport.read(directory: core.directory, nowMillis: Self.now) }
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let contents = try #require(imported).contents
        let write = try clock.measure { try store.replaceContents(with: contents) }
        let load = try clock.measure { _ = try store.loadContents() }
        print("generated core import (4096 buckets): read \(read), replaceContents \(write), loadContents \(load)")
        for warning in imported?.warnings ?? [] { print("generated core import warning: \(warning)") }
    }
}
