/// A table of the store as both backends have it: its name and its columns in the one order that
/// every INSERT, SELECT and row mapping (`StoreRow`) uses. Column names follow the reference's
/// store files, so imports and exports map one to one.
struct StoreTable: Sendable {
    let name: String
    let columns: [String]
    /// The primary key: what an update of one row selects it by.
    let key: String
    /// The columns an update changes; the others are written once, when the row is added.
    let updatable: [String]

    init(_ name: String, columns: [String], key: String, updatable: [String] = []) {
        self.name = name
        self.columns = columns
        self.key = key
        self.updatable = updatable
    }

    static let sites = StoreTable(
        "sites", columns: ["id", "name", "enabled", "domain_names", "app_names", "created"],
        key: "id", updatable: ["name", "enabled", "domain_names", "app_names"]
    )
    static let clients = StoreTable(
        "clients",
        columns: ["key_id", "key_hash", "key_salt", "secret", "name", "contact", "site_id", "roles", "disabled", "service_id", "created"],
        key: "key_id", updatable: ["secret", "name", "contact", "roles", "disabled"]
    )
    static let keysets = StoreTable(
        "keysets", columns: ["keyset_id", "site_id", "name", "allowed_sites", "created", "enabled", "is_default"], key: "keyset_id"
    )
    static let keys = StoreTable("keyset_keys", columns: ["id", "keyset_id", "created", "activates", "expires", "secret"], key: "id")
    static let keypairs = StoreTable(
        "client_side_keypairs",
        columns: ["subscription_id", "site_id", "public_key", "private_key", "contact", "name", "created", "disabled"],
        key: "subscription_id", updatable: ["disabled"]
    )
    /// One row (id 1): the salt table's secrets, and `updated`, when the last salt run happened.
    /// (`written_in`, the salt version at which the table was last written whole, is set apart.)
    static let saltMetadata = StoreTable("salt_metadata", columns: ["id", "first_level", "id_prefix", "id_secret", "updated"], key: "id")
    /// (`changed_in`, the salt version at which a run last changed the bucket, is set by salt runs.)
    static let saltBuckets = StoreTable(
        "salt_buckets",
        columns: ["position", "id", "last_updated", "current_salt", "refresh_from", "previous_salt",
                  "current_key_id", "current_key", "current_key_salt", "previous_key_id", "previous_key", "previous_key_salt"],
        key: "position"
    )
    /// (`id`, increasing with every new row so that nodes fetch only new ones, is the database's.)
    static let optOuts = StoreTable("optouts", columns: ["flh", "advertising_id", "opted_out_since", "recorded_ms"], key: "flh")

    /// What a core import replaces; opt-outs stay.
    static let replacedByImport = [sites, clients, keysets, keys, saltMetadata, saltBuckets, keypairs]

    /// Tables whose changes make nodes rebuild their snapshot, with the change counter each bumps
    /// (`ChangeCounter`). Salt buckets have none (a million rows): a salt run bumps the salt
    /// counter itself when it changed a bucket.
    static let versioned: [(table: String, counter: ChangeCounter)] = [
        ("sites", .configuration), ("clients", .configuration), ("keysets", .configuration), ("keyset_keys", .configuration),
        ("client_side_keypairs", .configuration), ("salt_metadata", .salts),
    ]

    /// `SELECT <columns> FROM <name>`, to which a caller adds its WHERE or ORDER BY.
    var select: String { select(adding: []) }

    /// `select` with `extra` columns after the table's own.
    func select(adding extra: [String]) -> String {
        "SELECT \((columns + extra).joined(separator: ", ")) FROM \(name)"
    }

    /// An INSERT of `rows` rows.
    func insert(rows: Int = 1, _ dialect: SQLDialect) -> String {
        var sql = "INSERT INTO \(name) (\(columns.joined(separator: ", "))) VALUES "
        sql.reserveCapacity(sql.utf8.count + rows * columns.count * 8)
        var parameter = 0
        for row in 0..<rows {
            sql += row == 0 ? "(" : ",("
            for column in 0..<columns.count {
                parameter += 1
                if column > 0 { sql += "," }
                sql += dialect.parameter(parameter)
            }
            sql += ")"
        }
        return sql
    }

    /// An UPDATE of the `updatable` columns of the row with a given key, bound as `StoreRow.updateValues`.
    func update(_ dialect: SQLDialect) -> String {
        let assignments = updatable.enumerated().map { "\($1) = \(dialect.parameter($0 + 1))" }
        return "UPDATE \(name) SET \(assignments.joined(separator: ", ")) WHERE \(key) = \(dialect.parameter(updatable.count + 1))"
    }
}

/// The counters in `store_version` that nodes poll (`StoreVersion`).
enum ChangeCounter: Int, Sendable {
    /// Sites, clients, keysets, keys, key pairs and runtime settings.
    case configuration = 1
    case salts = 2
}

extension StoreVersion {
    /// From the rows of `store_version`: (counter, version).
    init(counters: [(Int, Int64)]) {
        let versions = Dictionary(counters) { first, _ in first }
        self.init(configuration: versions[ChangeCounter.configuration.rawValue] ?? 0, salts: versions[ChangeCounter.salts.rawValue] ?? 0)
    }
}

/// Where the two backends' SQL differs.
enum SQLDialect: Sendable {
    case sqlite
    case postgres

    /// The `number`th bound value (from 1).
    func parameter(_ number: Int) -> String {
        switch self {
        case .sqlite: "?"
        case .postgres: "$\(number)"
        }
    }

    /// The smaller of two values.
    var least: String {
        switch self {
        case .sqlite: "MIN"
        case .postgres: "LEAST"
        }
    }

    /// The larger of two values.
    var greatest: String {
        switch self {
        case .sqlite: "MAX"
        case .postgres: "GREATEST"
        }
    }
}
