import Foundation
import GRDB
import Synchronization
import GRDBSQLite
import UIDOperatorCore
import UIDProtocol

/// The embedded store: one SQLite file in WAL mode, so the CLI can write while a server reads.
/// Its operations are in `SQLiteStore+<Concern>.swift`; tables and row mappings are shared with
/// `PostgresStore` (`StoreTable`, `StoreRow`).
public final class SQLiteStore: OperatorStore {
    public static let fileName = "operator.sqlite"

    let pool: DatabasePool

    /// Problems with the files' modes found (and corrected) when the store was opened.
    public let openingWarnings: [String]

    /// Where the image of the opt-out index is kept (`OptOutImageFile`); nil keeps none.
    let optOutImagePath: String?
    /// Indexes with fewer records are not imaged.
    let optOutImageMinimum: Int
    /// Images being written in the background.
    let optOutImageWrites = DispatchGroup()
    /// How the last full load got its opt-outs.
    let optOutLoadReports = Mutex<OptOutLoadReport?>(nil)
    /// What became of the last image written.
    let optOutImageOutcomes = Mutex<OptOutImageOutcome?>(nil)
    /// What the node's index was loaded from, and the last image taken of it (see
    /// `SQLiteStore+OptOutImage.swift`).
    let optOutImageTrack = Mutex<OptOutImageTrack?>(nil)

    /// Below this many opt-outs a node keeps no image of its index: it reads every row in well
    /// under a second.
    public static let defaultOptOutImageMinimum = 1 << 18

    /// `optOutImageMinimum`: keep an image of the opt-out index beside the database once it holds
    /// this many records, and start from it (see `loadOptOuts(upTo:)`); nil keeps none.
    public init(path: String, openingWarnings: [String] = [], optOutImageMinimum: Int? = SQLiteStore.defaultOptOutImageMinimum) throws {
        self.openingWarnings = openingWarnings
        optOutImagePath = optOutImageMinimum != nil && path != ":memory:" && !path.isEmpty ? OptOutImageFile.path(forDatabase: path) : nil
        self.optOutImageMinimum = max(optOutImageMinimum ?? 0, 1)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        // Processes opening one file together can find it locked while another switches it to
        // WAL: SQLite answers that switch with SQLITE_BUSY at once, without the busy handler.
        pool = try Self.retrying(while: { $0.resultCode == .SQLITE_BUSY || $0.resultCode == .SQLITE_LOCKED }) {
            try DatabasePool(path: path, configuration: configuration)
        }
        // FULL: a commit is fsynced before it returns, which opt-outs rely on. Set on the pool's one
        // writer after opening, because GRDB's WAL set-up switches every connection to NORMAL
        // (durable against a crash of the process, not of the machine) after `prepareDatabase`.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        // Processes opening a new file together race on the migrations (GRDB reads which are
        // applied outside the transaction that applies one): the loser's attempt fails on the
        // schema the winner created, and the next attempt finds it applied.
        try Self.retrying(while: { _ in true }) { [pool] in try SQLiteSchema.migrator.migrate(pool) }
    }

    /// `body`'s result, trying again every 50 ms (at most 20 times) while it throws a database
    /// error that `isTransient` accepts.
    private static func retrying<T>(while isTransient: (DatabaseError) -> Bool, _ body: () throws -> T) throws -> T {
        var attempts = 0
        while true {
            do {
                return try body()
            } catch let error as DatabaseError where isTransient(error) {
                attempts += 1
                guard attempts < 20 else { throw error }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }

    /// Opens the store in `directory`, creating both when missing. The directory is owner-only
    /// (0700) and the database with its -wal and -shm files 0600, since they hold secrets; looser
    /// modes found on opening are tightened and reported in `openingWarnings`.
    public convenience init(directory: URL, optOutImageMinimum: Int? = SQLiteStore.defaultOptOutImageMinimum) throws {
        // SQLite gives new -wal and -shm files the database's mode; existing ones are checked here.
        let warnings = try StoreFileModes.secure(directory: directory, databaseName: Self.fileName)
            + StoreFileModes.secureCompanions(directory: directory, databaseName: Self.fileName)
        try self.init(path: directory.appendingPathComponent(Self.fileName).path, openingWarnings: warnings, optOutImageMinimum: optOutImageMinimum)
    }

    // MARK: - Rows

    /// Every row of `R`'s table that makes a model, with `suffix` (a WHERE or ORDER BY) appended.
    static func fetch<R: StoreRow>(_ type: R.Type, _ db: Database, _ suffix: String = "", arguments: StatementArguments = []) throws -> [R] {
        try Row.fetchAll(db, sql: "\(R.table.select) \(suffix)", arguments: arguments).compactMap { try R(reading: $0) }
    }

    /// Inserts `rows` with one prepared statement, each row's values bound through SQLite's C API
    /// (`StoreValue.bind(to:at:)` says why).
    static func insert<R: StoreRow>(_ rows: some Sequence<R>, _ db: Database) throws {
        let statement = try db.makeStatement(sql: R.table.insert(.sqlite))
        let sqlite = statement.sqliteStatement
        defer { sqlite3_reset(sqlite) }
        func failure(_ code: Int32) -> DatabaseError {
            DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: statement.sql)
        }
        for row in rows {
            sqlite3_reset(sqlite)
            for (offset, value) in row.storeValues.enumerated() {
                let code = value.bind(to: sqlite, at: Int32(truncatingIfNeeded: offset + 1))
                guard code == SQLITE_OK else { throw failure(code) }
            }
            let step = sqlite3_step(sqlite)
            guard step == SQLITE_DONE else { throw failure(step) }
        }
    }

    static func insert(_ row: some StoreRow, _ db: Database) throws {
        try insert(CollectionOfOne(row), db)
    }

    /// Updates the row's `updatable` columns.
    static func update<R: StoreRow>(_ row: R, _ db: Database) throws {
        try db.execute(sql: R.table.update(.sqlite), arguments: arguments(row.updateValues))
    }

    static func arguments(_ values: [StoreValue]) -> StatementArguments {
        // GRDB's initializer for a sequence of one concrete type maps it through a key path that is
        // resolved at run time when called from another module; the existential one is a closure.
        StatementArguments(values.map { $0.databaseValue as (any DatabaseValueConvertible)? })
    }
}

extension StoreValue {
    var databaseValue: DatabaseValue {
        switch self {
        case .int32(let value): value.databaseValue
        case .int64(let value): value.databaseValue
        case .text(let value): value.databaseValue
        case .utf8(let value): value.map { String(decoding: $0, as: UTF8.self) }.databaseValue
        case .blob(let value): value.map { Data($0) }.databaseValue
        }
    }
}

extension Row: StoreRowReader {
    func int32(_ column: Int) throws -> Int32? { try decode(Int32?.self, atIndex: column) }
    func int64(_ column: Int) throws -> Int64? { try decode(Int64?.self, atIndex: column) }
    func text(_ column: Int) throws -> String? { try decode(String?.self, atIndex: column) }
    func blob(_ column: Int) throws -> [UInt8]? { try decode(Data?.self, atIndex: column).map { Array($0) } }
}
