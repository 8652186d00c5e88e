/// Schema migrations of the PostgreSQL store, applied at every connect. The tables, columns and
/// change tracking are those SQLite has after its v1–v3 migrations (`SQLiteSchema`), with
/// PostgreSQL types: BIGINT for epoch values (and salt bucket ids, `Int64` in the model), INTEGER
/// for ids and flags (0/1, as SQLite stores booleans), BYTEA for blobs, TEXT for base64 and JSON
/// (kept as text exactly like SQLite, e.g. roles `["GENERATOR"]`).
///
/// Each migration is a list of single statements (the extended query protocol runs one statement
/// per query) applied in one transaction together with its row in `schema_migrations`.
enum PostgresSchema {
    struct Migration {
        var name: String
        var statements: [String]
    }

    static let createMigrationsTable = "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)"

    static var migrations: [Migration] {
        [
            Migration(name: "v1: tables", statements: [
                """
                CREATE TABLE sites (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    enabled INTEGER NOT NULL,
                    domain_names TEXT NOT NULL DEFAULT '[]',
                    app_names TEXT NOT NULL DEFAULT '[]',
                    created BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE clients (
                    key_id TEXT PRIMARY KEY,
                    key_hash TEXT NOT NULL,
                    key_salt TEXT NOT NULL,
                    secret TEXT NOT NULL,
                    name TEXT NOT NULL,
                    contact TEXT NOT NULL,
                    site_id INTEGER NOT NULL,
                    roles TEXT NOT NULL,
                    disabled INTEGER NOT NULL,
                    service_id INTEGER NOT NULL DEFAULT 0,
                    created BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE keysets (
                    keyset_id INTEGER PRIMARY KEY,
                    site_id INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    allowed_sites TEXT,
                    created BIGINT NOT NULL,
                    enabled INTEGER NOT NULL,
                    is_default INTEGER NOT NULL
                )
                """,
                """
                CREATE TABLE keyset_keys (
                    id INTEGER PRIMARY KEY,
                    keyset_id INTEGER NOT NULL,
                    created BIGINT NOT NULL,
                    activates BIGINT NOT NULL,
                    expires BIGINT NOT NULL,
                    secret TEXT NOT NULL
                )
                """,
                "CREATE INDEX keyset_keys_keyset_id ON keyset_keys (keyset_id)",
                """
                CREATE TABLE salt_metadata (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    first_level TEXT NOT NULL,
                    id_prefix TEXT NOT NULL,
                    id_secret TEXT NOT NULL,
                    updated BIGINT NOT NULL DEFAULT 0
                )
                """,
                """
                CREATE TABLE salt_buckets (
                    position INTEGER PRIMARY KEY,
                    id BIGINT NOT NULL,
                    last_updated BIGINT NOT NULL,
                    current_salt TEXT,
                    refresh_from BIGINT NOT NULL,
                    previous_salt TEXT,
                    current_key_id INTEGER,
                    current_key TEXT,
                    current_key_salt TEXT,
                    previous_key_id INTEGER,
                    previous_key TEXT,
                    previous_key_salt TEXT
                )
                """,
                """
                CREATE TABLE client_side_keypairs (
                    subscription_id TEXT PRIMARY KEY,
                    site_id INTEGER NOT NULL,
                    public_key TEXT NOT NULL,
                    private_key TEXT NOT NULL,
                    contact TEXT NOT NULL DEFAULT '',
                    name TEXT NOT NULL DEFAULT '',
                    created BIGINT NOT NULL,
                    disabled INTEGER NOT NULL DEFAULT 0
                )
                """,
                // Nodes fetch new opt-outs by increasing id (see `PostgresStore.optOuts(after:)`).
                """
                CREATE TABLE optouts (
                    id BIGSERIAL PRIMARY KEY,
                    flh BYTEA NOT NULL UNIQUE,
                    advertising_id BYTEA,
                    opted_out_since BIGINT NOT NULL,
                    recorded_ms BIGINT NOT NULL DEFAULT 0
                )
                """,
            ]),
            Migration(name: "v2: change tracking for live reload", statements: changeTracking),
            // As SQLite's v4: settings every node applies, one JSON document; a change reloads nodes.
            Migration(name: "v3: runtime settings", statements: [
                "CREATE TABLE runtime_config (id INTEGER PRIMARY KEY CHECK (id = 1), settings TEXT NOT NULL)",
            ] + versionTriggers(table: "runtime_config", counter: 1)),
            // As SQLite's v5: an UPDATE that leaves a row as it was changes nothing (the row
            // trigger skips it, so the statement trigger sees no changed row); salt runs bump the
            // salt counter themselves when a bucket changed, `salt_metadata.updated` only records the run.
            Migration(name: "v4: only real changes bump the version", statements: [
                "DROP TRIGGER IF EXISTS salt_metadata_update_bumps_version ON salt_metadata",
            ] + (StoreTable.versioned.map(\.table) + ["runtime_config"]).filter { $0 != "salt_metadata" }.map { table in
                """
                CREATE TRIGGER \(table)_skips_unchanged_rows BEFORE UPDATE ON \(table)
                FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()
                """
            }),
            // As SQLite's v6: the salt version at which a run changed each bucket, and at which the
            // table was last written whole.
            Migration(name: "v5: incremental salt reload", statements: [
                "ALTER TABLE salt_buckets ADD COLUMN changed_in BIGINT NOT NULL DEFAULT 0",
                "CREATE INDEX salt_buckets_changed_in ON salt_buckets (changed_in)",
                "ALTER TABLE salt_metadata ADD COLUMN written_in BIGINT NOT NULL DEFAULT 0",
                "UPDATE salt_metadata SET written_in = (SELECT version FROM store_version WHERE id = 2)",
            ]),
        ]
    }

    /// One counter per kind of change that nodes poll, bumped by statement-level triggers. A
    /// statement that changes no row bumps nothing (the transition table is empty), as with
    /// SQLite's row triggers; one that changes many rows bumps once.
    private static var changeTracking: [String] {
        var statements = [
            "CREATE TABLE store_version (id INTEGER PRIMARY KEY, version BIGINT NOT NULL)",
            "INSERT INTO store_version (id, version) VALUES (1, 1), (2, 1)",
            """
            CREATE FUNCTION store_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF EXISTS (SELECT 1 FROM changed_rows) THEN
                    UPDATE store_version SET version = version + 1 WHERE id = TG_ARGV[0]::integer;
                END IF;
                RETURN NULL;
            END
            $$
            """,
        ]
        for (table, counter) in StoreTable.versioned {
            statements += versionTriggers(table: table, counter: counter.rawValue)
        }
        return statements
    }

    /// A trigger with a transition table handles one kind of statement, hence three.
    private static func versionTriggers(table: String, counter: Int) -> [String] {
        [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")].map { operation, transition in
            """
            CREATE TRIGGER \(table)_\(operation.lowercased())_bumps_version AFTER \(operation) ON \(table)
            REFERENCING \(transition) TABLE AS changed_rows
            FOR EACH STATEMENT EXECUTE FUNCTION store_version_bump('\(counter)')
            """
        }
    }
}
