import GRDB

/// Schema migrations, applied at every open. Column names follow the reference's store files so
/// imports and exports map one to one.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE sites (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    enabled INTEGER NOT NULL,
                    domain_names TEXT NOT NULL DEFAULT '[]',
                    app_names TEXT NOT NULL DEFAULT '[]',
                    created INTEGER NOT NULL
                );
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
                    created INTEGER NOT NULL
                );
                CREATE TABLE keysets (
                    keyset_id INTEGER PRIMARY KEY,
                    site_id INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    allowed_sites TEXT,
                    created INTEGER NOT NULL,
                    enabled INTEGER NOT NULL,
                    is_default INTEGER NOT NULL
                );
                CREATE TABLE keyset_keys (
                    id INTEGER PRIMARY KEY,
                    keyset_id INTEGER NOT NULL,
                    created INTEGER NOT NULL,
                    activates INTEGER NOT NULL,
                    expires INTEGER NOT NULL,
                    secret TEXT NOT NULL
                );
                CREATE TABLE salt_metadata (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    first_level TEXT NOT NULL,
                    id_prefix TEXT NOT NULL,
                    id_secret TEXT NOT NULL
                );
                CREATE TABLE salt_buckets (
                    position INTEGER PRIMARY KEY,
                    id INTEGER NOT NULL,
                    last_updated INTEGER NOT NULL,
                    current_salt TEXT,
                    refresh_from INTEGER NOT NULL,
                    previous_salt TEXT,
                    current_key_id INTEGER,
                    current_key TEXT,
                    current_key_salt TEXT,
                    previous_key_id INTEGER,
                    previous_key TEXT,
                    previous_key_salt TEXT
                );
                CREATE TABLE optouts (
                    flh BLOB PRIMARY KEY,
                    opted_out_since INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2: opt-out advertising ids, client-side key pairs") { db in
            try db.execute(sql: """
                ALTER TABLE optouts ADD COLUMN advertising_id BLOB;
                CREATE TABLE client_side_keypairs (
                    subscription_id TEXT PRIMARY KEY,
                    site_id INTEGER NOT NULL,
                    public_key TEXT NOT NULL,
                    private_key TEXT NOT NULL,
                    contact TEXT NOT NULL DEFAULT '',
                    name TEXT NOT NULL DEFAULT '',
                    created INTEGER NOT NULL,
                    disabled INTEGER NOT NULL DEFAULT 0
                );
                """)
        }
        return migrator
    }
}
