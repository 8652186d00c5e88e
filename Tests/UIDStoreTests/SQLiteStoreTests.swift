import Foundation
import GRDB
import Testing
import UIDOperatorCore
import UIDProtocol
@testable import UIDStore

/// What only the SQLite store does; what every store does is in `StoreContractTests`.
@Suite struct SQLiteStoreTests {
    func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("uidstore-\(UUID().uuidString)").path
    }

    @Test func firstOpenSeedsAndLaterOpensLoadTheSameData() async throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SQLiteStore(directory: URL(fileURLWithPath: path))
        let seeded = try #require(try await StoreBootstrap.seedIfEmpty(store, scope: .euid, environment: .integ, nowMillis: 1_750_000_000_000, bucketCount: 64))
        try StoreBootstrap.writeCredentials(seeded, to: URL(fileURLWithPath: path))
        #expect(seeded.apiKey.hasPrefix("EUID-C-I-999-"))

        let credentialsFile = URL(fileURLWithPath: path).appendingPathComponent(StoreBootstrap.credentialsFileName).path
        let attributes = try FileManager.default.attributesOfItem(atPath: credentialsFile)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let written = try JSONDecoder().decode(ClientCredentials.self, from: Data(contentsOf: URL(fileURLWithPath: credentialsFile)))
        #expect(written == seeded)

        let reopened = try SQLiteStore(directory: URL(fileURLWithPath: path))
        #expect(try await StoreBootstrap.seedIfEmpty(reopened, scope: .euid, environment: .integ, nowMillis: 0) == nil, "an initialized store is not seeded twice")
        let contents = try reopened.loadContents()
        #expect(contents.salts.count == 64)
        #expect(contents.keysets.count == 4 && contents.keys.count == 4)
        #expect(contents.sites.map(\.id) == [999])
        let client = try #require(contents.clients.first)
        #expect(client.roles == Set(Role.clientRoles))
        #expect(APIKeyHasher.hash(key: seeded.apiKey, salt: client.keySalt) == client.keyHash)
        #expect(Base64.encode(client.secret) == seeded.secret)

        let snapshot = try OperatorSnapshot(config: OperatorConfig(scope: .euid), contents: contents)
        #expect(snapshot.clients.client(forAPIKey: seeded.apiKey)?.keyID == seeded.keyID)
        #expect(snapshot.keys.activeMasterKey(atSeconds: 1_750_000_000) != nil)
        #expect(snapshot.keys.activeRefreshKey(atSeconds: 1_750_000_000) != nil)
        #expect(snapshot.keys.activeSiteKey(siteID: 999, atSeconds: 1_750_000_000)?.keysetID == 3)

        // Salts survive the round trip byte for byte.
        let first = try store.loadContents().salts
        for position in [0, 31, 63] {
            #expect(first[position] == contents.salts[position])
            #expect(contents.salts[position].currentSalt?.count == 44)
        }
    }

    /// GRDB's WAL set-up turns `synchronous` to NORMAL, under which a commit is not fsynced: an
    /// acknowledged opt-out would be lost with the machine. Found by the read-only file system test.
    @Test func writesAreFsyncedBeforeTheyReturn() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SQLiteStore(directory: URL(fileURLWithPath: path))
        let mode = try store.pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(mode == 2, "PRAGMA synchronous on the writer is \(String(describing: mode)), not FULL (2)")
    }

    /// A start reads a large opt-out table in two halves of its ids on two connections; forced
    /// here on a small one, with ids missing from the first half (its room is closed up), rows
    /// past the watermark (not read), malformed hashes and prefixed ids: the index answers as
    /// the one-connection read's does.
    @Test func optOutsReadInTwoHalvesAnswerAsOneRead() async throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SQLiteStore(directory: URL(fileURLWithPath: path))
        var state: UInt64 = 0x9E37_79B9
        func bytes(_ count: Int) -> Data {
            Data((0..<count).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return UInt8(truncatingIfNeeded: state >> 33)
            })
        }
        var rows: [(flh: Data, id: Data?, seconds: Int64)] = []
        for position in 0..<3_000 {
            let flh = position % 97 == 0 ? bytes(31) : bytes(32)
            rows.append((flh, position % 3 == 0 ? nil : bytes(32 + position % 2), Int64(1_000 + position % 500)))
        }
        try await store.pool.write { [rows] db in
            for row in rows {
                try db.execute(sql: "INSERT INTO optouts (flh, advertising_id, opted_out_since) VALUES (?, ?, ?)", arguments: [row.flh, row.id, row.seconds])
            }
            try db.execute(sql: "DELETE FROM optouts WHERE id % 50 = 7 AND id < 1000")
        }
        let watermark: Int64 = 2_600
        let halves = try #require(SQLiteStore.idHalves(count: try store.optOutCount(), lowest: 1, watermark: watermark, minimum: 0))
        #expect(halves == [1...1_300, 1_301...2_600])
        let split = try await store.readOptOuts(upTo: watermark, splitMinimum: 0)
        let single = try await store.readOptOuts(upTo: watermark, splitMinimum: .max)
        // Rows up to the watermark, less the deleted ones and those with neither a valid hash nor an id.
        var kept = 0
        for (position, row) in rows.prefix(Int(watermark)).enumerated() {
            let id = position + 1
            let deleted = id % 50 == 7 && id < 1_000
            if !deleted, row.flh.count == 32 || row.id != nil { kept += 1 }
        }
        #expect(single.recordCount == kept && split.recordCount == kept)
        #expect(split.count == single.count)
        for (position, row) in rows.enumerated() {
            let flh = [UInt8](row.flh)
            #expect(split.optedOutSince(firstLevelHash: flh) == single.optedOutSince(firstLevelHash: flh), "row \(position + 1)")
            if let id = row.id {
                #expect(split.optedOutSince(advertisingID: [UInt8](id)) == single.optedOutSince(advertisingID: [UInt8](id)), "row \(position + 1)")
            }
        }
        #expect(single.optedOutSince(firstLevelHash: [UInt8](rows[2_700].flh)) == nil, "past the watermark")
    }

    /// Halves only where the ids bound the rows: not for gaps the row count does not cover, a
    /// small table, or a range of ids too wide to count.
    @Test func idHalvesAreTakenOnlyWhenTheIdsBoundTheRows() {
        #expect(SQLiteStore.idHalves(count: 10, lowest: 1, watermark: 10, minimum: 0) == [1...5, 6...10])
        #expect(SQLiteStore.idHalves(count: 11, lowest: 5, watermark: 15, minimum: 0) == [5...9, 10...15])
        #expect(SQLiteStore.idHalves(count: 9, lowest: 1, watermark: 10, minimum: 0) == nil)
        #expect(SQLiteStore.idHalves(count: 10, lowest: 1, watermark: 10, minimum: 11) == nil)
        #expect(SQLiteStore.idHalves(count: 1, lowest: 1, watermark: 1, minimum: 0) == nil)
        #expect(SQLiteStore.idHalves(count: .max, lowest: 0, watermark: .max, minimum: 0) == nil)
        #expect(SQLiteStore.idHalves(count: .max, lowest: -1, watermark: 10, minimum: 0) == nil)
    }
}
