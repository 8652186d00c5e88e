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
        migrator.registerMigration("v3: change tracking for live reload") { db in
            // Every change to configuration bumps one counter that nodes poll. Salt buckets have no
            // trigger (a million rows); whoever changes them touches salt_metadata in the same
            // transaction. Opt-outs get an increasing id, so nodes fetch only new ones.
            try db.execute(sql: """
                CREATE TABLE store_version (id INTEGER PRIMARY KEY, version INTEGER NOT NULL);
                INSERT INTO store_version (id, version) VALUES (1, 1), (2, 1);
                ALTER TABLE salt_metadata ADD COLUMN updated INTEGER NOT NULL DEFAULT 0;
                CREATE TABLE optouts_v3 (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    flh BLOB NOT NULL UNIQUE,
                    advertising_id BLOB,
                    opted_out_since INTEGER NOT NULL,
                    recorded_ms INTEGER NOT NULL DEFAULT 0
                );
                INSERT INTO optouts_v3 (flh, advertising_id, opted_out_since) SELECT flh, advertising_id, opted_out_since FROM optouts;
                DROP TABLE optouts;
                ALTER TABLE optouts_v3 RENAME TO optouts;
                """)
            for (table, counter) in StoreTable.versioned.map({ ($0.table, $0.counter.rawValue) }) {
                for operation in ["INSERT", "UPDATE", "DELETE"] {
                    try db.execute(sql: """
                        CREATE TRIGGER \(table)_\(operation.lowercased())_bumps_version AFTER \(operation) ON \(table)
                        BEGIN UPDATE store_version SET version = version + 1 WHERE id = \(counter); END
                        """)
                }
            }
        }
        migrator.registerMigration("v4: runtime settings") { db in
            try db.execute(sql: "CREATE TABLE runtime_config (id INTEGER PRIMARY KEY CHECK (id = 1), settings TEXT NOT NULL)")
            for operation in ["INSERT", "UPDATE", "DELETE"] {
                try db.execute(sql: """
                    CREATE TRIGGER runtime_config_\(operation.lowercased())_bumps_version AFTER \(operation) ON runtime_config
                    BEGIN UPDATE store_version SET version = version + 1 WHERE id = 1; END
                    """)
            }
        }
        migrator.registerMigration("v5: only real changes bump the version") { db in
            // An UPDATE that leaves a row as it was (the same settings set again, a disabled client
            // disabled again) must not make every node reload. Salt runs bump the salt counter
            // themselves when a bucket changed; `salt_metadata.updated` only records the run.
            try db.execute(sql: "DROP TRIGGER IF EXISTS salt_metadata_update_bumps_version")
            for (table, counter) in StoreTable.versioned.map({ ($0.table, $0.counter.rawValue) }) + [("runtime_config", 1)] where table != "salt_metadata" {
                let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table])
                let changed = columns.map { "OLD.\($0) IS NOT NEW.\($0)" }.joined(separator: " OR ")
                try db.execute(sql: """
                    DROP TRIGGER IF EXISTS \(table)_update_bumps_version;
                    CREATE TRIGGER \(table)_update_bumps_version AFTER UPDATE ON \(table) WHEN \(changed)
                    BEGIN UPDATE store_version SET version = version + 1 WHERE id = \(counter); END
                    """)
            }
        }
        migrator.registerMigration("v6: incremental salt reload") { db in
            // A salt run marks each bucket it changes with the salt version it brings the store to,
            // so nodes read only those; `written_in` is the version at which the table was last
            // written whole (seeding, an import), before which only a full load will do.
            try db.execute(sql: """
                ALTER TABLE salt_buckets ADD COLUMN changed_in INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX salt_buckets_changed_in ON salt_buckets (changed_in);
                ALTER TABLE salt_metadata ADD COLUMN written_in INTEGER NOT NULL DEFAULT 0;
                UPDATE salt_metadata SET written_in = (SELECT version FROM store_version WHERE id = 2);
                """)
        }
        migrator.registerMigration("v7: opt-out index images") { db in
            // A node keeps an image of its opt-out index beside the store (`OptOutImageFile`) and
            // trusts it only for rows it holds: those up to its id, unchanged since. Rows are
            // appended; anything else done to them (an advertising id filled in, a delete by an
            // import) counts here, and an image taken at another count is not used. The nonce
            // tells this store's images from another's. SQLite only: PostgreSQL nodes keep no image.
            try db.execute(sql: """
                CREATE TABLE optout_rewrites (id INTEGER PRIMARY KEY CHECK (id = 1), store_nonce BLOB NOT NULL, count INTEGER NOT NULL);
                INSERT INTO optout_rewrites (id, store_nonce, count) VALUES (1, randomblob(16), 0);
                CREATE TRIGGER optouts_update_counts_rewrite AFTER UPDATE ON optouts
                WHEN OLD.id IS NOT NEW.id OR OLD.flh IS NOT NEW.flh OR OLD.advertising_id IS NOT NEW.advertising_id
                    OR OLD.opted_out_since IS NOT NEW.opted_out_since
                BEGIN UPDATE optout_rewrites SET count = count + 1 WHERE id = 1; END;
                CREATE TRIGGER optouts_delete_counts_rewrite AFTER DELETE ON optouts
                BEGIN UPDATE optout_rewrites SET count = count + 1 WHERE id = 1; END;
                """)
        }
        return migrator
    }
}
