import Foundation
import GRDB
import GRDBSQLite
import UIDOperatorCore
import UIDProtocol

/// The embedded store: one SQLite file in WAL mode, so the CLI can write while a server reads.
public final class SQLiteStore: OperatorStore {
    public static let fileName = "operator.sqlite"

    let pool: DatabasePool

    public init(path: String, openingWarnings: [String] = []) throws {
        self.openingWarnings = openingWarnings
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // FULL: a commit is on disk before it returns, which opt-outs rely on.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        // Processes opening a new file together race on the migrations (GRDB reads which are
        // applied outside the transaction that applies one): the loser's attempt fails on the
        // schema the winner created, and the next attempt finds it applied.
        var attempts = 0
        while true {
            do {
                try SQLiteSchema.migrator.migrate(pool)
                return
            } catch let error as DatabaseError {
                attempts += 1
                guard attempts < 20 else { throw error }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }

    /// Problems with the files' modes found (and corrected) when the store was opened.
    public let openingWarnings: [String]

    /// Opens the store in `directory`, creating both when missing. The directory is owner-only
    /// (0700) and the database with its -wal and -shm files 0600, since they hold secrets; looser
    /// modes found on opening are tightened and reported in `openingWarnings`.
    public convenience init(directory: URL) throws {
        // SQLite gives new -wal and -shm files the database's mode; existing ones are checked here.
        let warnings = try StoreFileModes.secure(directory: directory, databaseName: Self.fileName)
            + StoreFileModes.secureCompanions(directory: directory, databaseName: Self.fileName)
        try self.init(path: directory.appendingPathComponent(Self.fileName).path, openingWarnings: warnings)
    }

    public func isEmpty() throws -> Bool {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM salt_metadata") == 0 }
    }

    public func initialize(with contents: StoreContents) throws {
        // An IMMEDIATE transaction: of two processes seeding one file, the second waits for the
        // first's commit and then finds its data.
        try pool.write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM salt_metadata") == 0 else { throw StoreError.alreadyInitialized }
            for site in contents.sites { try insert(site, db) }
            for client in contents.clients { try insert(client, db) }
            for keyset in contents.keysets { try insert(keyset, db) }
            for key in contents.keys { try insert(key, db) }
            for keypair in contents.keypairs {
                try db.execute(
                    sql: """
                        INSERT INTO client_side_keypairs (subscription_id, site_id, public_key, private_key, contact, name, created, disabled)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [keypair.subscriptionID, keypair.siteID, keypair.publicKeyText, keypair.privateKeyText,
                                keypair.contact, keypair.name, keypair.createdSeconds, keypair.disabled]
                )
            }
            let salts = contents.salts
            // `updated` marks the last salt rotation: the newest bucket's, so fresh salts are not due.
            let lastRotation = (0..<salts.count).reduce(Int64(0)) { max($0, salts.lastUpdatedMillis(at: $1)) }
            try db.execute(
                sql: "INSERT INTO salt_metadata (id, first_level, id_prefix, id_secret, updated) VALUES (1, ?, ?, ?, ?)",
                arguments: [String(decoding: salts.firstLevelSalt, as: UTF8.self), salts.idPrefix, salts.idSecret, lastRotation]
            )
            let statement = try db.makeStatement(sql: """
                INSERT INTO salt_buckets (position, id, last_updated, current_salt, refresh_from, previous_salt,
                    current_key_id, current_key, current_key_salt, previous_key_id, previous_key, previous_key_salt)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for position in 0..<salts.count {
                let entry = salts[position]
                statement.setUncheckedArguments([
                    position, entry.id, entry.lastUpdatedMillis, entry.currentSalt.map(Self.text), entry.refreshFromMillis,
                    entry.previousSalt.map(Self.text),
                    entry.currentKey?.id, entry.currentKey.map { Self.text($0.key) }, entry.currentKey.map { Self.text($0.salt) },
                    entry.previousKey?.id, entry.previousKey.map { Self.text($0.key) }, entry.previousKey.map { Self.text($0.salt) },
                ])
                try statement.execute()
            }
            try Self.markSaltTableWritten(db)
        }
    }

    /// After the salt table is written whole: nodes holding an older salt version must load it all.
    static func markSaltTableWritten(_ db: Database) throws {
        try db.execute(sql: "UPDATE salt_metadata SET written_in = (SELECT version FROM store_version WHERE id = 2) WHERE id = 1")
    }

    public func loadContents() throws -> StoreContents {
        try pool.read { db in try Self.contents(db, includingSalts: true, includingOptOuts: true) }
    }

    public func loadState(includingSalts: Bool, includingOptOuts: Bool) async throws -> StoreState {
        // Rows are only ever appended: the opt-outs up to this watermark are loaded alongside the
        // rest (salts take a second of their own), and later rows reach the node through
        // `optOuts(after:)`.
        let watermark = try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) FROM optouts") ?? 0 }
        async let optOuts = includingOptOuts ? loadOptOuts(upTo: watermark) : OptOutIndex()
        var state = try await pool.read { db in
            StoreState(
                contents: try Self.contents(db, includingSalts: includingSalts, includingOptOuts: false),
                version: try Self.version(db),
                optOutWatermark: watermark,
                runtimeSettings: try Self.runtimeSettings(db)
            )
        }
        state.contents.optOuts = try await optOuts
        return state
    }

    public func runtimeSettings() async throws -> RuntimeSettings {
        try await pool.read { db in try Self.runtimeSettings(db) }
    }

    public func setRuntimeSettings(_ settings: RuntimeSettings) async throws {
        let json = String(decoding: try JSONEncoder().encode(settings), as: UTF8.self)
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO runtime_config (id, settings) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET settings = excluded.settings",
                           arguments: [json])
        }
    }

    private static func runtimeSettings(_ db: Database) throws -> RuntimeSettings {
        guard let json = try String.fetchOne(db, sql: "SELECT settings FROM runtime_config WHERE id = 1") else { return RuntimeSettings() }
        return try JSONDecoder().decode(RuntimeSettings.self, from: Data(json.utf8))
    }

    public func version() async throws -> StoreVersion {
        try await pool.read { db in try Self.version(db) }
    }

    private static func version(_ db: Database) throws -> StoreVersion {
        let rows = try Row.fetchAll(db, sql: "SELECT id, version FROM store_version")
        let values = Dictionary(uniqueKeysWithValues: rows.map { ($0[0] as Int, $0[1] as Int64) })
        return StoreVersion(configuration: values[1] ?? 0, salts: values[2] ?? 0)
    }

    public func optOuts(after watermark: Int64) async throws -> OptOutBatch {
        try await pool.read { db in
            var batch = OptOutBatch(records: [], watermark: watermark)
            let rows = try Row.fetchCursor(db, sql: """
                SELECT id, flh, advertising_id, opted_out_since, recorded_ms FROM optouts WHERE id > ? ORDER BY id LIMIT 100000
                """, arguments: [watermark])
            while let row = try rows.next() {
                let flh: Data = row[1]
                let advertisingID: Data? = row[2]
                batch.records.append((OptOutRecord(firstLevelHash: Array(flh), advertisingID: advertisingID.map { Array($0) },
                                                   optedOutSinceSeconds: row[3]), row[4]))
                batch.watermark = row[0]
            }
            return batch
        }
    }

    private static func contents(_ db: Database, includingSalts: Bool, includingOptOuts: Bool) throws -> StoreContents {
        let sites = try Self.sites(db)
        let clients = try Row.fetchAll(db, sql: """
            SELECT key_id, key_hash, key_salt, secret, name, contact, site_id, roles, disabled, service_id, created FROM clients
            """).compactMap { row -> ClientKey? in
            guard let hash = Base64.decode(row[1] as String), let salt = Base64.decode(row[2] as String),
                  let secret = Base64.decode(row[3] as String) else { return nil }
            return ClientKey(
                keyID: row[0], keyHash: hash, keySalt: salt, secret: secret, name: row[4], contact: row[5],
                siteID: row[6], roles: Set(Self.strings(row[7]).map(Role.init(parsing:))), disabled: row[8],
                serviceID: row[9], createdSeconds: row[10]
            )
        }
        let keysets = try Row.fetchAll(db, sql: "SELECT keyset_id, site_id, name, allowed_sites, created, enabled, is_default FROM keysets").map { row in
            Keyset(id: row[0], siteID: row[1], name: row[2], allowedSites: (row[3] as String?).map { Self.strings($0).compactMap { Int32($0) } },
                   createdSeconds: row[4], enabled: row[5], isDefault: row[6])
        }
        let keys = try Row.fetchAll(db, sql: "SELECT id, keyset_id, created, activates, expires, secret FROM keyset_keys ORDER BY rowid").compactMap(key)
        let keypairs = try Row.fetchAll(db, sql: """
            SELECT subscription_id, site_id, public_key, private_key, contact, name, created, disabled FROM client_side_keypairs
            """).compactMap { row in
            ClientSideKeypair(subscriptionID: row[0], siteID: row[1], publicKeyText: row[2], privateKeyText: row[3],
                              contact: row[4], name: row[5], createdSeconds: row[6], disabled: row[7])
        }
        let salts = includingSalts ? try loadSalts(db) : SaltTable(firstLevelSalt: [], idPrefix: "", idSecret: "")
        return StoreContents(sites: sites, clients: clients, keysets: keysets, keys: keys, salts: salts,
                             optOuts: includingOptOuts ? try loadOptOuts(db) : OptOutIndex(), keypairs: keypairs)
    }

    private static func key(_ row: Row) -> KeysetKey? {
        guard let secret = Base64.decode(row[5] as String) else { return nil }
        return KeysetKey(id: row[0], keysetID: row[1], createdSeconds: row[2], activatesSeconds: row[3], expiresSeconds: row[4], secret: secret)
    }

    private static func loadSalts(_ db: Database) throws -> SaltTable {
        guard let meta = try Row.fetchOne(db, sql: "SELECT first_level, id_prefix, id_secret FROM salt_metadata WHERE id = 1") else {
            throw StoreError.notInitialized
        }
        let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM salt_buckets") ?? 0
        var table = SaltTable(firstLevelSalt: Array((meta[0] as String).utf8), idPrefix: meta[1], idSecret: meta[2], expectedCount: count)
        let rows = try Row.fetchCursor(db, sql: """
            SELECT id, last_updated, current_salt, refresh_from, previous_salt, current_key_id, current_key, current_key_salt,
                   previous_key_id, previous_key, previous_key_salt
            FROM salt_buckets ORDER BY position
            """)
        while let row = try rows.next() {
            table.append(saltEntry(row))
        }
        return table
    }

    /// A bucket from the columns `id, last_updated, current_salt, refresh_from, previous_salt` and
    /// the six key-material columns.
    private static func saltEntry(_ row: Row) -> SaltTable.Entry {
        SaltTable.Entry(
            id: row[0], lastUpdatedMillis: row[1], refreshFromMillis: row[3],
            currentSalt: bytes(row[2]), previousSalt: bytes(row[4]),
            currentKey: material(id: row[5], key: row[6], salt: row[7]),
            previousKey: material(id: row[8], key: row[9], salt: row[10])
        )
    }

    /// Ten million rows are read with SQLite's column accessors in place (decoding each through
    /// GRDB's `Row` and `Data` took 40 s where the scan takes 2), and the two lookup tables, each
    /// bound by cache misses, are built on two connections at once.
    private func loadOptOuts(upTo watermark: Int64) async throws -> OptOutIndex {
        let count = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM optouts WHERE id <= ?", arguments: [watermark]) ?? 0 }
        async let byFirstLevelHash = pool.read { db in
            var index = OptOutIndex(minimumCapacityByFirstLevelHash: count, byAdvertisingID: 0)
            try Self.scanOptOuts(db, column: "flh", upTo: watermark) { key, seconds in
                index.insert(firstLevelHash: key, optedOutSinceSeconds: seconds)
            }
            return index
        }
        async let byAdvertisingID = pool.read { db in
            var index = OptOutIndex(minimumCapacityByFirstLevelHash: 0, byAdvertisingID: count)
            try Self.scanOptOuts(db, column: "advertising_id", upTo: watermark) { key, seconds in
                index.insert(advertisingID: key, optedOutSinceSeconds: seconds)
            }
            return index
        }
        return OptOutIndex(firstLevelHashesOf: try await byFirstLevelHash, advertisingIDsOf: try await byAdvertisingID)
    }

    private static func scanOptOuts(
        _ db: Database, column: String, upTo watermark: Int64, _ body: (UnsafeRawBufferPointer, Int64) -> Void
    ) throws {
        let statement = try db.makeStatement(sql: "SELECT \(column), opted_out_since FROM optouts WHERE id <= ? AND \(column) IS NOT NULL")
        statement.setUncheckedArguments([watermark])
        let sqlite = statement.sqliteStatement
        defer { sqlite3_reset(sqlite) }
        while true {
            let step = sqlite3_step(sqlite)
            if step == SQLITE_DONE { return }
            guard step == SQLITE_ROW else { throw DatabaseError(resultCode: ResultCode(rawValue: step), message: "reading opt-outs") }
            body(UnsafeRawBufferPointer(start: sqlite3_column_blob(sqlite, 0), count: Int(sqlite3_column_bytes(sqlite, 0))), sqlite3_column_int64(sqlite, 1))
        }
    }

    /// The synchronous path (administration commands): one connection, one pass.
    private static func loadOptOuts(_ db: Database) throws -> OptOutIndex {
        let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM optouts") ?? 0
        var flh = OptOutIndex(minimumCapacityByFirstLevelHash: count, byAdvertisingID: 0)
        var advertising = OptOutIndex(minimumCapacityByFirstLevelHash: 0, byAdvertisingID: count)
        try scanOptOuts(db, column: "flh", upTo: .max) { flh.insert(firstLevelHash: $0, optedOutSinceSeconds: $1) }
        try scanOptOuts(db, column: "advertising_id", upTo: .max) { advertising.insert(advertisingID: $0, optedOutSinceSeconds: $1) }
        return OptOutIndex(firstLevelHashesOf: flh, advertisingIDsOf: advertising)
    }

    public func loadSites() throws -> [Site] {
        try pool.read { db in try Self.sites(db) }
    }

    private static func sites(_ db: Database) throws -> [Site] {
        try Row.fetchAll(db, sql: "SELECT id, name, enabled, domain_names, app_names, created FROM sites").map { row in
            Site(id: row[0], name: row[1], enabled: row[2], domainNames: strings(row[3]), appNames: strings(row[4]), createdSeconds: row[5])
        }
    }

    public func addClient(_ client: ClientKey) throws {
        try pool.write { db in try insert(client, db) }
    }

    public func addSite(_ site: Site, makeKeyset: (_ keysetID: Int32, _ keyID: Int32) -> (Keyset, KeysetKey)) throws {
        try pool.write { db in
            let keysetID = try Int32.fetchOne(db, sql: "SELECT MAX(COALESCE(MAX(keyset_id), 2), 2) + 1 FROM keysets") ?? 3
            let keyID = try Int32.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) + 1 FROM keyset_keys") ?? 1
            let (keyset, key) = makeKeyset(keysetID, keyID)
            try insert(site, db)
            try insert(keyset, db)
            try insert(key, db)
        }
    }

    public func updateSite(_ site: Site) throws {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE sites SET name = ?, enabled = ?, domain_names = ?, app_names = ? WHERE id = ?",
                arguments: [site.name, site.enabled, Self.jsonArray(site.domainNames), Self.jsonArray(site.appNames), site.id]
            )
        }
    }

    public func addKeypair(_ keypair: ClientSideKeypair) throws {
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO client_side_keypairs (subscription_id, site_id, public_key, private_key, contact, name, created, disabled)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [keypair.subscriptionID, keypair.siteID, keypair.publicKeyText, keypair.privateKeyText,
                            keypair.contact, keypair.name, keypair.createdSeconds, keypair.disabled]
            )
        }
    }

    public func updateClient(_ client: ClientKey) throws {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE clients SET secret = ?, name = ?, contact = ?, roles = ?, disabled = ? WHERE key_id = ?",
                arguments: [Base64.encode(client.secret), client.name, client.contact,
                            Self.jsonArray(client.roles.map(\.rawValue).sorted()), client.disabled, client.keyID]
            )
        }
    }

    public func setKeypairDisabled(subscriptionID: String, disabled: Bool) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: "UPDATE client_side_keypairs SET disabled = ? WHERE subscription_id = ?", arguments: [disabled, subscriptionID])
            return db.changesCount > 0
        }
    }

    public func rotateKey(keysetID: Int32, expireOthersAt: Int64?, makeKey: (_ keyID: Int32) -> KeysetKey) throws -> KeysetKey {
        try pool.write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM keysets WHERE keyset_id = ?", arguments: [keysetID]) == 1 else {
                throw StoreError.notFound("keyset \(keysetID)")
            }
            let id = try Int32.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) + 1 FROM keyset_keys") ?? 1
            let key = makeKey(id)
            if let expireOthersAt {
                try db.execute(sql: "UPDATE keyset_keys SET expires = MIN(expires, ?) WHERE keyset_id = ?", arguments: [expireOthersAt, keysetID])
            }
            try insert(key, db)
            return key
        }
    }

    public func rotateDueKeys(
        keysetIDs: [Int32], plan: @escaping @Sendable (_ keysetID: Int32, _ keys: [KeysetKey]) -> RotationPolicy.KeyRotation?,
        makeKey: @escaping @Sendable (_ keyID: Int32, _ keysetID: Int32, _ rotation: RotationPolicy.KeyRotation) -> KeysetKey
    ) async throws -> [KeysetKey] {
        // GRDB writes are serialized and run as IMMEDIATE transactions: across processes SQLite's
        // write lock makes the check-then-insert atomic.
        try await pool.write { db in
            var added = [KeysetKey]()
            for keysetID in keysetIDs {
                let keys = try Row.fetchAll(db, sql: "SELECT id, keyset_id, created, activates, expires, secret FROM keyset_keys WHERE keyset_id = ?",
                                            arguments: [keysetID]).compactMap(Self.key)
                guard let rotation = plan(keysetID, keys) else { continue }
                let id = try Int32.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) + 1 FROM keyset_keys") ?? 1
                try db.execute(sql: "UPDATE keyset_keys SET expires = MIN(expires, ?) WHERE keyset_id = ?",
                               arguments: [rotation.expireOthersAtSeconds, keysetID])
                let key = makeKey(id, keysetID, rotation)
                try insert(key, db)
                added.append(key)
            }
            return added
        }
    }

    public func rotateSalts(
        nowMillis: Int64, dueBeforeMillis: Int64, skipIfRunSinceMillis: Int64?,
        plan: @escaping @Sendable (_ candidates: [SaltSchedule.Bucket], _ totalBuckets: Int) -> SaltSchedule.Plan
    ) async throws -> SaltRotationOutcome? {
        // GRDB writes are IMMEDIATE transactions: across processes the check and the run are atomic.
        try await pool.write { db in
            if let since = skipIfRunSinceMillis {
                let last = try Int64.fetchOne(db, sql: "SELECT updated FROM salt_metadata WHERE id = 1") ?? 0
                guard last < since else { return nil }
            }
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM salt_buckets") ?? 0
            // The version this run brings the salts to, marked on every bucket it changes.
            let next = (try Int64.fetchOne(db, sql: "SELECT version FROM store_version WHERE id = 2") ?? 0) + 1
            var candidates = [SaltSchedule.Bucket]()
            let rows = try Row.fetchCursor(db, sql: """
                SELECT position, last_updated, refresh_from, current_salt IS NOT NULL AND current_salt != '' FROM salt_buckets
                WHERE refresh_from < ? ORDER BY position
                """, arguments: [dueBeforeMillis])
            while let row = try rows.next() {
                candidates.append(SaltSchedule.Bucket(position: row[0], lastUpdatedMillis: row[1], refreshFromMillis: row[2], hasSalt: row[3]))
            }
            let decided = plan(candidates, total)
            let rotate = try db.makeStatement(sql: """
                UPDATE salt_buckets SET previous_salt = current_salt, current_salt = ?, last_updated = ?, refresh_from = ?, changed_in = ?
                WHERE position = ?
                """)
            for rotation in decided.rotations {
                rotate.setUncheckedArguments([Self.text(rotation.salt), decided.rotatedAtMillis, decided.rotatedRefreshFromMillis, next, rotation.position])
                try rotate.execute()
            }
            let reschedule = try db.makeStatement(sql: "UPDATE salt_buckets SET refresh_from = ?, changed_in = ? WHERE position = ?")
            for entry in decided.reschedules {
                reschedule.setUncheckedArguments([entry.refreshFromMillis, next, entry.position])
                try reschedule.execute()
            }
            try db.execute(sql: """
                UPDATE salt_buckets SET previous_salt = NULL, previous_key_id = NULL, previous_key = NULL, previous_key_salt = NULL, changed_in = ?
                WHERE last_updated < ? AND (previous_salt IS NOT NULL OR previous_key IS NOT NULL)
                """, arguments: [next, decided.previousSaltsUpdatedBeforeMillis])
            let outcome = SaltRotationOutcome(rotated: decided.rotations.count, rescheduled: decided.reschedules.count,
                                              previousSaltsDropped: db.changesCount, buckets: total)
            // Buckets have no change trigger (a million rows), and `updated` only records the run.
            try db.execute(sql: "UPDATE salt_metadata SET updated = ? WHERE id = 1", arguments: [nowMillis])
            if outcome.changedAnything {
                try db.execute(sql: "UPDATE store_version SET version = ? WHERE id = 2", arguments: [next])
            }
            return outcome
        }
    }

    public func saltChanges(after version: Int64) async throws -> SaltChanges? {
        try await pool.read { db in
            let current = try Int64.fetchOne(db, sql: "SELECT version FROM store_version WHERE id = 2") ?? 0
            guard let writtenIn = try Int64.fetchOne(db, sql: "SELECT written_in FROM salt_metadata WHERE id = 1"),
                  version >= writtenIn, version <= current
            else { return nil }
            var changes = SaltChanges(version: current, buckets: [])
            let rows = try Row.fetchCursor(db, sql: """
                SELECT id, last_updated, current_salt, refresh_from, previous_salt, current_key_id, current_key, current_key_salt,
                       previous_key_id, previous_key, previous_key_salt, position
                FROM salt_buckets WHERE changed_in > ?
                """, arguments: [version])
            while let row = try rows.next() {
                changes.buckets.append((row[11], Self.saltEntry(row)))
            }
            return changes
        }
    }

    public func saltTableHeader() async throws -> SaltTableHeader {
        try await pool.read { db in
            guard let meta = try Row.fetchOne(db, sql: "SELECT first_level, id_prefix, id_secret FROM salt_metadata WHERE id = 1") else {
                throw StoreError.notInitialized
            }
            return SaltTableHeader(firstLevelSalt: Array((meta[0] as String).utf8), idPrefix: meta[1], idSecret: meta[2],
                                   bucketCount: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM salt_buckets") ?? 0)
        }
    }

    public func saltBucket(at position: Int) async throws -> SaltTable.Entry? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT id, last_updated, current_salt, refresh_from, previous_salt, current_key_id, current_key, current_key_salt,
                       previous_key_id, previous_key, previous_key_salt
                FROM salt_buckets WHERE position = ?
                """, arguments: [position]).map(Self.saltEntry)
        }
    }

    public func optOutCount() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM optouts") ?? 0 }
    }

    public func recentOptOuts(limit: Int) throws -> [OptOutRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT flh, advertising_id, opted_out_since FROM optouts ORDER BY id DESC LIMIT ?", arguments: [limit]).map { row in
                let flh: Data = row[0]
                let advertisingID: Data? = row[1]
                return OptOutRecord(firstLevelHash: Array(flh), advertisingID: advertisingID.map { Array($0) }, optedOutSinceSeconds: row[2])
            }
        }
    }

    /// Runs on GRDB's writer queue, not the caller's thread; returns once SQLite has committed with
    /// `synchronous = FULL`.
    public func recordOptOut(_ record: OptOutRecord) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO optouts (flh, advertising_id, opted_out_since, recorded_ms) VALUES (?, ?, ?, ?)
                    ON CONFLICT(flh) DO UPDATE SET advertising_id = COALESCE(optouts.advertising_id, excluded.advertising_id)
                    """,
                arguments: [Data(record.firstLevelHash), record.advertisingID.map { Data($0) }, record.optedOutSinceSeconds,
                            Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))]
            )
        }
    }

    private func insert(_ site: Site, _ db: Database) throws {
        try db.execute(
            sql: "INSERT INTO sites (id, name, enabled, domain_names, app_names, created) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [site.id, site.name, site.enabled, Self.jsonArray(site.domainNames), Self.jsonArray(site.appNames), site.createdSeconds]
        )
    }

    private func insert(_ keyset: Keyset, _ db: Database) throws {
        try db.execute(
            sql: "INSERT INTO keysets (keyset_id, site_id, name, allowed_sites, created, enabled, is_default) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [keyset.id, keyset.siteID, keyset.name, keyset.allowedSites.map(Self.jsonArray), keyset.createdSeconds, keyset.enabled, keyset.isDefault]
        )
    }

    private func insert(_ key: KeysetKey, _ db: Database) throws {
        try db.execute(
            sql: "INSERT INTO keyset_keys (id, keyset_id, created, activates, expires, secret) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [key.id, key.keysetID, key.createdSeconds, key.activatesSeconds, key.expiresSeconds, Base64.encode(key.secret)]
        )
    }

    private func insert(_ client: ClientKey, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO clients (key_id, key_hash, key_salt, secret, name, contact, site_id, roles, disabled, service_id, created)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                client.keyID, Base64.encode(client.keyHash), Base64.encode(client.keySalt), Base64.encode(client.secret),
                client.name, client.contact, client.siteID, Self.jsonArray(client.roles.map(\.rawValue).sorted()),
                client.disabled, client.serviceID, client.createdSeconds,
            ]
        )
    }

    // MARK: - Column helpers

    private static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    private static func bytes(_ text: String?) -> [UInt8]? {
        guard let text, !text.isEmpty else { return nil }
        return Array(text.utf8)
    }

    private static func material(id: Int32?, key: String?, salt: String?) -> SaltKeyMaterial? {
        guard let id, let key, !key.isEmpty else { return nil }
        return SaltKeyMaterial(id: id, key: Array(key.utf8), salt: Array((salt ?? "").utf8))
    }

    static func jsonArray<T: Encodable>(_ values: [T]) -> String {
        String(decoding: (try? JSONEncoder().encode(values)) ?? Data("[]".utf8), as: UTF8.self)
    }

    static func strings(_ json: String) -> [String] {
        if let strings = try? JSONDecoder().decode([String].self, from: Data(json.utf8)) { return strings }
        if let numbers = try? JSONDecoder().decode([Int64].self, from: Data(json.utf8)) { return numbers.map(String.init) }
        return []
    }
}

public enum StoreError: Error, CustomStringConvertible {
    case notInitialized
    /// Seeding found data written meanwhile (another node or process seeded first).
    case alreadyInitialized
    case notFound(String)

    public var description: String {
        switch self {
        case .notInitialized: "the store has not been initialized"
        case .alreadyInitialized: "the store already holds operator data"
        case .notFound(let what): "no \(what) in the store"
        }
    }
}
