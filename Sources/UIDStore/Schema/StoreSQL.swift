/// Statements both backends run as they are (values bound with `SQLDialect.parameter`).
enum StoreSQL {
    static let saltTableCount = "SELECT COUNT(*) FROM salt_metadata"
    static let saltHeader = "SELECT first_level, id_prefix, id_secret FROM salt_metadata WHERE id = 1"
    static let bucketCount = "SELECT COUNT(*) FROM salt_buckets"
    static let lastSaltRun = "SELECT updated FROM salt_metadata WHERE id = 1"
    static let saltWrittenIn = "SELECT written_in FROM salt_metadata WHERE id = 1"
    static let versions = "SELECT id, version FROM store_version"
    static let saltVersion = "SELECT version FROM store_version WHERE id = \(ChangeCounter.salts.rawValue)"
    static let runtimeSettings = "SELECT settings FROM runtime_config WHERE id = 1"
    static let optOutCount = "SELECT COUNT(*) FROM optouts"
    /// Key ids are allocated in the store, one past the highest.
    static let nextKeyID = "SELECT COALESCE(MAX(id), 0) + 1 FROM keyset_keys"
    /// After the salt table was written whole: nodes holding an older salt version must load it all.
    static let markSaltTableWritten = "UPDATE salt_metadata SET written_in = (\(saltVersion)) WHERE id = 1"

    /// Keyset ids 1 and 2 are the master and refresh keysets': a site's keyset is above both.
    static func nextKeysetID(_ dialect: SQLDialect) -> String {
        "SELECT \(dialect.greatest)(COALESCE(MAX(keyset_id), 2), 2) + 1 FROM keysets"
    }

    static func keysetExists(_ dialect: SQLDialect) -> String {
        "SELECT COUNT(*) FROM keysets WHERE keyset_id = \(dialect.parameter(1))"
    }

    /// Sets every key of a keyset to expire no later than the first bound value.
    static func expireKeys(_ dialect: SQLDialect) -> String {
        "UPDATE keyset_keys SET expires = \(dialect.least)(expires, \(dialect.parameter(1))) WHERE keyset_id = \(dialect.parameter(2))"
    }

    static func setLastSaltRun(_ dialect: SQLDialect) -> String {
        "UPDATE salt_metadata SET updated = \(dialect.parameter(1)) WHERE id = 1"
    }

    static func setSaltVersion(_ dialect: SQLDialect) -> String {
        "UPDATE store_version SET version = \(dialect.parameter(1)) WHERE id = \(ChangeCounter.salts.rawValue)"
    }

    static func setRuntimeSettings(_ dialect: SQLDialect) -> String {
        "INSERT INTO runtime_config (id, settings) VALUES (1, \(dialect.parameter(1))) ON CONFLICT (id) DO UPDATE SET settings = excluded.settings"
    }

    /// Buckets last rotated before the second bound value lose their previous salt and key, marked
    /// changed at the salt version bound first.
    static func dropPreviousSalts(_ dialect: SQLDialect) -> String {
        """
        UPDATE salt_buckets SET previous_salt = NULL, previous_key_id = NULL, previous_key = NULL, previous_key_salt = NULL,
            changed_in = \(dialect.parameter(1))
        WHERE last_updated < \(dialect.parameter(2)) AND (previous_salt IS NOT NULL OR previous_key IS NOT NULL)
        """
    }

    /// Keyset administration: a keyset on or off, who may download it, one key withdrawn.
    static func setKeysetEnabled(_ dialect: SQLDialect) -> String {
        "UPDATE keysets SET enabled = \(dialect.parameter(1)) WHERE keyset_id = \(dialect.parameter(2))"
    }

    static func setKeysetAllowedSites(_ dialect: SQLDialect) -> String {
        "UPDATE keysets SET allowed_sites = \(dialect.parameter(1)) WHERE keyset_id = \(dialect.parameter(2))"
    }

    static func removeKey(_ dialect: SQLDialect) -> String {
        "DELETE FROM keyset_keys WHERE id = \(dialect.parameter(1))"
    }
}
