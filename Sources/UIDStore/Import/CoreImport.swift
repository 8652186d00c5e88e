import Foundation
import UIDOperatorCore
import UIDProtocol

/// Reads a store directory in the reference's "core" format (docs/PROTOCOL.md#core-store-layout): one folder per
/// store, each with a `metadata.json` that names its data file.
///
/// Everything is validated before anything is returned, so a caller can replace its store with the
/// result or leave it untouched: malformed input is a thrown `Failure` naming the file and the
/// entry or line, never a crash and never a half-imported store.
public struct CoreImport {
    public struct Imported: Sendable {
        /// Sites, clients, keysets, keys, salts and client-side key pairs. Opt-outs are empty: they
        /// come from the opt-out service's files (`OptOutFileReader`), not from core.
        public var contents: StoreContents
        /// From `runtime_config/metadata.json`, when the directory has one.
        public var runtimeConfig: RuntimeConfigValues?
        /// Things that were imported with a caveat or left out (unknown roles, stores this operator
        /// has no use for, size mismatches).
        public var warnings: [String]
    }

    /// The reference's runtime config (docs/PROTOCOL.md#runtime-config). Seconds throughout.
    public struct RuntimeConfigValues: Sendable, Equatable {
        public var identityTokenExpiresAfterSeconds: Int64
        public var refreshTokenExpiresAfterSeconds: Int64
        public var refreshIdentityTokenAfterSeconds: Int64
        public var sharingTokenExpirySeconds: Int64
        public var maxBidstreamLifetimeSeconds: Int64?
        public var maxSharingLifetimeSeconds: Int64?
        /// `test`, `integ` or `prod` (validated on import).
        public var identityEnvironment: String

        public init(
            identityTokenExpiresAfterSeconds: Int64, refreshTokenExpiresAfterSeconds: Int64,
            refreshIdentityTokenAfterSeconds: Int64, sharingTokenExpirySeconds: Int64,
            maxBidstreamLifetimeSeconds: Int64? = nil, maxSharingLifetimeSeconds: Int64? = nil,
            identityEnvironment: String
        ) {
            self.identityTokenExpiresAfterSeconds = identityTokenExpiresAfterSeconds
            self.refreshTokenExpiresAfterSeconds = refreshTokenExpiresAfterSeconds
            self.refreshIdentityTokenAfterSeconds = refreshIdentityTokenAfterSeconds
            self.sharingTokenExpirySeconds = sharingTokenExpirySeconds
            self.maxBidstreamLifetimeSeconds = maxBidstreamLifetimeSeconds
            self.maxSharingLifetimeSeconds = maxSharingLifetimeSeconds
            self.identityEnvironment = identityEnvironment
        }

        public var lifetimes: TokenLifetimes {
            TokenLifetimes(
                identityTokenExpiresAfterSeconds: identityTokenExpiresAfterSeconds,
                refreshTokenExpiresAfterSeconds: refreshTokenExpiresAfterSeconds,
                refreshIdentityTokenAfterSeconds: refreshIdentityTokenAfterSeconds
            )
        }

        public var environment: IdentityEnvironment? { IdentityEnvironment(name: identityEnvironment) }
    }

    /// What went wrong, and where: `file` is relative to the imported directory when it is inside it.
    public struct Failure: Error, CustomStringConvertible, Sendable, Equatable {
        public var file: String
        public var message: String

        public init(file: String, message: String) {
            self.file = file
            self.message = message
        }

        public var description: String { "\(file): \(message)" }
    }

    /// Progress is reported as (stage, done, total) this often while reading salt buckets.
    public static let progressInterval = 65_536

    /// Reads `directory` (the folder that holds `clients/`, `keysets/`, `keyset_keys/`, `salts/`, …).
    /// `nowMillis` picks the salt snapshot in force (docs/PROTOCOL.md#salt-snapshots).
    public static func read(directory: URL, nowMillis: Int64, progress: ((String, Int, Int) -> Void)? = nil) throws -> Imported {
        var reader = Reader(directory: directory.standardizedFileURL, nowMillis: nowMillis, progress: progress)
        return try reader.read()
    }
}

// MARK: - Reader

extension CoreImport {
    /// A store of the core format: its folder and the member of `metadata.json` naming its data file.
    struct StoreSpec {
        var folder: String
        var metadataKey: String
    }

    static let clientsStore = StoreSpec(folder: "clients", metadataKey: "client_keys")
    static let keysetsStore = StoreSpec(folder: "keysets", metadataKey: "keysets")
    static let keysetKeysStore = StoreSpec(folder: "keyset_keys", metadataKey: "keyset_keys")
    static let sitesStore = StoreSpec(folder: "sites", metadataKey: "sites")
    static let keypairsStore = StoreSpec(folder: "client_side_keypairs", metadataKey: "client_side_keypairs")
    /// Stores the reference has and this operator does not use; their presence is only reported.
    static let ignoredStores: [(folder: String, reason: String)] = [
        ("services", "service links are not supported; clients keep their service_id"),
        ("service_links", "service links are not supported"),
        ("cloud_encryption_keys", "only needed for encrypted store files, which are not supported"),
    ]

    struct Reader {
        let directory: URL
        let nowMillis: Int64
        let progress: ((String, Int, Int) -> Void)?
        var warnings: [String] = []

        init(directory: URL, nowMillis: Int64, progress: ((String, Int, Int) -> Void)?) {
            self.directory = directory
            self.nowMillis = nowMillis
            self.progress = progress
        }

        mutating func read() throws -> Imported {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw Failure(file: directory.path, message: "not a directory")
            }
            let clients = try readClients()
            let keysets = try readKeysets()
            let keys = try readKeys(keysetIDs: Set(keysets.map(\.id)))
            let sites = try readSites()
            let keypairs = try readKeypairs()
            let salts = try readSalts()
            let runtimeConfig = try readRuntimeConfig()
            for (folder, reason) in CoreImport.ignoredStores where exists("\(folder)/metadata.json") {
                warnings.append("\(folder): not imported (\(reason))")
            }
            let contents = StoreContents(
                sites: sites, clients: clients, keysets: keysets, keys: keys, salts: salts,
                optOuts: OptOutIndex(), keypairs: keypairs
            )
            return Imported(contents: contents, runtimeConfig: runtimeConfig, warnings: warnings)
        }

        // MARK: Files

        func exists(_ relative: String) -> Bool {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: directory.appendingPathComponent(relative).path, isDirectory: &isDirectory)
                && !isDirectory.boolValue
        }

        func load(_ relative: String) throws -> Data {
            do {
                return try Data(contentsOf: directory.appendingPathComponent(relative))
            } catch {
                throw Failure(file: relative, message: "cannot be read: \(error.localizedDescription)")
            }
        }

        func parseJSON(_ data: Data, file: String) throws -> JSONValue {
            do {
                return try JSONDecoder().decode(JSONValue.self, from: data)
            } catch let error as DecodingError {
                throw Failure(file: file, message: "not valid JSON: \(Self.describe(error))")
            } catch {
                throw Failure(file: file, message: "not valid JSON: \(error)")
            }
        }

        static func describe(_ error: DecodingError) -> String {
            switch error {
            case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context):
                let underlying = (context.underlyingError as NSError?).map { " (\($0.localizedDescription))" } ?? ""
                return context.debugDescription + underlying
            @unknown default:
                return "\(error)"
            }
        }

        /// Resolves a metadata `location` (e.g. `/com.uid2.core/test/clients/clients.json`, an
        /// absolute path of the reference's bucket) to a file in `directory`: the longest suffix
        /// of its path components that names an existing file.
        func resolve(location: String, metadataFile: String) throws -> String {
            let components = location.split(separator: "/").map(String.init).filter { !$0.isEmpty && $0 != "." }
            guard !components.isEmpty else {
                throw Failure(file: metadataFile, message: "empty location")
            }
            guard !components.contains("..") else {
                throw Failure(file: metadataFile, message: "location \"\(location)\" must not contain \"..\"")
            }
            for length in stride(from: components.count, through: 1, by: -1) {
                let candidate = components.suffix(length).joined(separator: "/")
                if exists(candidate) { return candidate }
            }
            let folder = (metadataFile as NSString).deletingLastPathComponent
            throw Failure(
                file: metadataFile,
                message: "data file \"\(location)\" not found in \(directory.path) (expected e.g. \(folder)/\(components.last!))"
            )
        }

        /// The metadata of a store, or nil when the folder has none.
        func metadata(_ folder: String) throws -> (file: String, object: JSONObject)? {
            let file = "\(folder)/metadata.json"
            guard exists(file) else { return nil }
            guard case .object(let members) = try parseJSON(try load(file), file: file) else {
                throw Failure(file: file, message: "expected a JSON object")
            }
            return (file, JSONObject(members: members, file: file, label: "metadata"))
        }

        /// The entries of a JSON store's data file, via its metadata.
        func entries(_ store: StoreSpec, required: Bool) throws -> (file: String, entries: [JSONObject])? {
            guard let (metadataFile, metadata) = try metadata(store.folder) else {
                if required {
                    throw Failure(file: "\(store.folder)/metadata.json", message: "missing: the directory must be a core store export (the folder holding clients/, keysets/, keyset_keys/, salts/ …)")
                }
                return nil
            }
            let location = try Self.location(in: metadata, key: store.metadataKey)
            let file = try resolve(location: location, metadataFile: metadataFile)
            let value = try parseJSON(try load(file), file: file)
            let items: [JSONValue]
            switch value {
            case .array(let array):
                items = array
            case .object(let members) where members["encrypted_payload"] != nil:
                throw Self.encrypted(file: file, members: members)
            default:
                throw Failure(file: file, message: "expected a JSON array of entries")
            }
            let entries = try items.enumerated().map { index, item -> JSONObject in
                guard case .object(let members) = item else {
                    throw Failure(file: file, message: "entry \(index + 1): expected a JSON object")
                }
                return JSONObject(members: members, file: file, label: "entry \(index + 1)")
            }
            return (file, entries)
        }

        /// `"<store>": {"location": …}`; falls back to the only member that has a location, so a
        /// store name spelled differently by another exporter still works.
        static func location(in metadata: JSONObject, key: String) throws -> String {
            if let store = try metadata.optionalObject(key) {
                return try store.string("location")
            }
            let candidates = metadata.members.compactMap { name, value -> String? in
                guard case .object(let members) = value, case .string(let location)? = members["location"] else { return nil }
                return location
            }
            guard candidates.count == 1 else {
                throw metadata.fail("no \"\(key)\": {\"location\": …} member")
            }
            return candidates[0]
        }

        static func encrypted(file: String, members: [String: JSONValue]) -> Failure {
            let keyID = members["key_id"].map { " (key_id \($0.compactText))" } ?? ""
            return Failure(
                file: file,
                message: "encrypted store files are not supported\(keyID); export the store unencrypted (encrypted_files=false) and import that"
            )
        }

        func report(_ stage: String, _ done: Int, _ total: Int) {
            progress?(stage, done, total)
        }

        // MARK: Stores

        mutating func readClients() throws -> [ClientKey] {
            let (_, entries) = try entries(CoreImport.clientsStore, required: true)!
            var clients: [ClientKey] = []
            var seen = Set<String>()
            for entry in entries {
                let keyID = try entry.string("key_id")
                let context = entry.with(label: "\(entry.label) (key_id \(keyID))")
                guard seen.insert(keyID).inserted else { throw context.fail("duplicate key_id") }
                let keyHash = try context.base64("key_hash")
                let keySalt = try context.base64("key_salt")
                if keyHash.count != 64 {
                    throw context.fail("key_hash must be base64 of a 64-byte SHA-512 hash, got \(keyHash.count) bytes")
                }
                let secret = try context.base64("secret")
                var roles = Set<Role>()
                for text in try context.stringArray("roles") ?? [] {
                    let role = Role(parsing: text)
                    if role == .unknown {
                        warnings.append("\(context.file) \(context.label): unknown role \"\(text)\" kept as UNKNOWN")
                    }
                    roles.insert(role)
                }
                guard let client = ClientKey(
                    keyID: keyID, keyHash: keyHash, keySalt: keySalt, secret: secret,
                    name: try context.optionalString("name") ?? "", contact: try context.optionalString("contact") ?? "",
                    siteID: try context.int32("site_id"), roles: roles,
                    disabled: try context.bool("disabled", default: false),
                    serviceID: try context.optionalInt32("service_id") ?? 0,
                    createdSeconds: try context.optionalInt64("created") ?? 0
                ) else {
                    throw context.fail("secret must be base64 of 16, 24 or 32 bytes, got \(secret.count) bytes")
                }
                clients.append(client)
            }
            report("clients", clients.count, clients.count)
            return clients
        }

        mutating func readKeysets() throws -> [Keyset] {
            let (file, entries) = try entries(CoreImport.keysetsStore, required: true)!
            var keysets: [Keyset] = []
            var seen = Set<Int32>()
            var defaults = [Int32: Int32]()
            for entry in entries {
                let id = try entry.int32("keyset_id")
                let context = entry.with(label: "\(entry.label) (keyset_id \(id))")
                guard seen.insert(id).inserted else { throw context.fail("duplicate keyset_id") }
                let keyset = Keyset(
                    id: id, siteID: try context.int32("site_id"), name: try context.optionalString("name") ?? "",
                    allowedSites: try context.int32Array("allowed_sites"),
                    createdSeconds: try context.optionalInt64("created") ?? 0,
                    enabled: try context.bool("enabled", default: false), isDefault: try context.bool("default", default: false)
                )
                if keyset.enabled && keyset.isDefault {
                    if let other = defaults[keyset.siteID] {
                        throw Failure(file: file, message: "keysets \(other) and \(id) are both the enabled default keyset of site \(keyset.siteID)")
                    }
                    defaults[keyset.siteID] = id
                }
                keysets.append(keyset)
            }
            report("keysets", keysets.count, keysets.count)
            return keysets
        }

        mutating func readKeys(keysetIDs: Set<Int32>) throws -> [KeysetKey] {
            let (file, entries) = try entries(CoreImport.keysetKeysStore, required: true)!
            var keys: [KeysetKey] = []
            var seen = Set<Int32>()
            var orphans: [Int32] = []
            for entry in entries {
                let id = try entry.int32("id")
                let context = entry.with(label: "\(entry.label) (id \(id))")
                guard seen.insert(id).inserted else { throw context.fail("duplicate key id") }
                let keysetID = try context.int32("keyset_id")
                let secret = try context.base64("secret")
                guard let key = KeysetKey(
                    id: id, keysetID: keysetID, createdSeconds: try context.optionalInt64("created") ?? 0,
                    activatesSeconds: try context.int64("activates"), expiresSeconds: try context.int64("expires"), secret: secret
                ) else {
                    throw context.fail("secret must be base64 of 16, 24 or 32 bytes, got \(secret.count) bytes")
                }
                if !keysetIDs.contains(keysetID) { orphans.append(id) }
                keys.append(key)
            }
            if !orphans.isEmpty {
                warnings.append("\(file): keys \(orphans.map(String.init).joined(separator: ", ")) belong to no known keyset (imported, never used)")
            }
            warnings += Self.activationTieWarnings(keys, file: file)
            report("keyset_keys", keys.count, keys.count)
            return keys
        }

        /// The reference breaks ties between a keyset's keys that activate at the same second by file
        /// order (the last listed wins, docs/PROTOCOL.md#active-key-rule); the SQLite store returns keys by id. Where
        /// the two orders differ the active key can differ, so say so.
        static func activationTieWarnings(_ keys: [KeysetKey], file: String) -> [String] {
            var lastByGroup = [KeyGroup: Int32]()
            var warnings: [String] = []
            for key in keys {
                let group = KeyGroup(keysetID: key.keysetID, activates: key.activatesSeconds)
                if let previous = lastByGroup[group], previous > key.id {
                    warnings.append("\(file): keys \(previous) and \(key.id) of keyset \(key.keysetID) activate at the same second and are not listed in id order; the reference prefers the one listed last, this operator's store the higher id (\(previous))")
                }
                lastByGroup[group] = max(lastByGroup[group] ?? key.id, key.id)
            }
            return warnings
        }

        struct KeyGroup: Hashable {
            var keysetID: Int32
            var activates: Int64
        }

        mutating func readSites() throws -> [Site] {
            guard let (_, entries) = try entries(CoreImport.sitesStore, required: false) else {
                warnings.append("sites: no sites/metadata.json; no sites imported (client-side generation needs them)")
                return []
            }
            var sites: [Site] = []
            var seen = Set<Int32>()
            for entry in entries {
                let id = try entry.int32("id")
                let context = entry.with(label: "\(entry.label) (id \(id))")
                guard seen.insert(id).inserted else { throw context.fail("duplicate site id") }
                sites.append(Site(
                    id: id, name: try context.optionalString("name") ?? "", enabled: try context.bool("enabled", default: false),
                    domainNames: try context.stringArray("domain_names") ?? [], appNames: try context.stringArray("app_names") ?? [],
                    createdSeconds: try context.optionalInt64("created") ?? 0
                ))
            }
            report("sites", sites.count, sites.count)
            return sites
        }

        mutating func readKeypairs() throws -> [ClientSideKeypair] {
            guard let (_, entries) = try entries(CoreImport.keypairsStore, required: false) else {
                warnings.append("client_side_keypairs: no client_side_keypairs/metadata.json; no key pairs imported")
                return []
            }
            var keypairs: [ClientSideKeypair] = []
            var seen = Set<String>()
            for entry in entries {
                let subscription = try entry.string("subscription_id")
                let context = entry.with(label: "\(entry.label) (subscription_id \(subscription))")
                guard seen.insert(subscription).inserted else { throw context.fail("duplicate subscription_id") }
                let publicKey = try context.string("public_key")
                let privateKey = try context.string("private_key")
                guard publicKey.count > 9, Base64.decode(publicKey.dropFirst(9)) != nil else {
                    throw context.fail("public_key must be a 9-character prefix (e.g. UID2-X-L-) followed by base64")
                }
                guard let keypair = ClientSideKeypair(
                    subscriptionID: subscription, siteID: try context.int32("site_id"),
                    publicKeyText: publicKey, privateKeyText: privateKey,
                    contact: try context.optionalString("contact") ?? "", name: try context.optionalString("name") ?? "",
                    createdSeconds: try context.optionalInt64("created") ?? 0, disabled: try context.bool("disabled", default: false)
                ) else {
                    throw context.fail("private_key must be a 9-character prefix (e.g. UID2-Y-L-) followed by a base64 PKCS#8 P-256 key")
                }
                keypairs.append(keypair)
            }
            report("client_side_keypairs", keypairs.count, keypairs.count)
            return keypairs
        }

        mutating func readRuntimeConfig() throws -> RuntimeConfigValues? {
            guard let (file, metadata) = try metadata("runtime_config") else { return nil }
            guard let config = try metadata.optionalObject("runtime_config") else {
                throw Failure(file: file, message: "no \"runtime_config\" object")
            }
            let values = RuntimeConfigValues(
                identityTokenExpiresAfterSeconds: try config.int64("identity_token_expires_after_seconds"),
                refreshTokenExpiresAfterSeconds: try config.int64("refresh_token_expires_after_seconds"),
                refreshIdentityTokenAfterSeconds: try config.int64("refresh_identity_token_after_seconds"),
                sharingTokenExpirySeconds: try config.int64("sharing_token_expiry_seconds"),
                maxBidstreamLifetimeSeconds: try config.optionalInt64("max_bidstream_lifetime_seconds"),
                maxSharingLifetimeSeconds: try config.optionalInt64("max_sharing_lifetime_seconds"),
                identityEnvironment: try config.string("identity_environment")
            )
            guard values.environment != nil else {
                throw config.fail("identity_environment must be test, integ or prod, not \"\(values.identityEnvironment)\"")
            }
            do {
                try values.lifetimes.validate()
            } catch {
                throw config.fail(error.description)
            }
            if let max = values.maxBidstreamLifetimeSeconds, max < values.identityTokenExpiresAfterSeconds {
                throw config.fail("max_bidstream_lifetime_seconds (\(max)) must be at least identity_token_expires_after_seconds (\(values.identityTokenExpiresAfterSeconds))")
            }
            if values.sharingTokenExpirySeconds <= 0 {
                throw config.fail("sharing_token_expiry_seconds must be positive")
            }
            if let max = values.maxSharingLifetimeSeconds, max < values.sharingTokenExpirySeconds {
                throw config.fail("max_sharing_lifetime_seconds (\(max)) must be at least sharing_token_expiry_seconds (\(values.sharingTokenExpirySeconds))")
            }
            report("runtime_config", 1, 1)
            return values
        }

        // MARK: Salts

        struct SaltSnapshotSpec {
            var effective: Int64
            var expires: Int64
            var location: String
            var size: Int?
            var index: Int
        }

        /// docs/PROTOCOL.md#salt-snapshots, as the reference's `RotatingSaltProvider.getSnapshot`: snapshots sorted
        /// by `effective` (stable); walk them in order while they are in force
        /// (`effective ≤ now < expires`) and keep the last such one; if the first is not in force,
        /// the newest. A missing `expires` means load time + 365 days.
        static func snapshotInForce(_ snapshots: [SaltSnapshotSpec], nowMillis: Int64) -> SaltSnapshotSpec? {
            let sorted = snapshots.sorted { ($0.effective, $0.index) < ($1.effective, $1.index) }
            var current: SaltSnapshotSpec?
            for snapshot in sorted {
                guard snapshot.effective <= nowMillis && nowMillis < snapshot.expires else { break }
                current = snapshot
            }
            return current ?? sorted.last
        }

        mutating func readSalts() throws -> SaltTable {
            guard let (metadataFile, metadata) = try metadata("salts") else {
                throw Failure(file: "salts/metadata.json", message: "missing: the directory must be a core store export (the folder holding clients/, keysets/, keyset_keys/, salts/ …)")
            }
            let firstLevel = try metadata.string("first_level")
            guard !firstLevel.isEmpty else { throw metadata.fail("first_level is empty") }
            let idPrefix = try metadata.string("id_prefix")
            let idSecret = try metadata.string("id_secret")
            let defaultExpires = nowMillis &+ 365 * 86_400_000
            let specs = try (metadata.array("salts")).enumerated().map { index, value -> SaltSnapshotSpec in
                guard case .object(let members) = value else {
                    throw Failure(file: metadataFile, message: "salts[\(index)]: expected a JSON object")
                }
                let spec = JSONObject(members: members, file: metadataFile, label: "salts[\(index)]")
                let size = try spec.optionalInt64("size")
                if let size, size < 0 || size > 1 << 26 { throw spec.fail("size \(size) is out of range") }
                return SaltSnapshotSpec(
                    effective: try spec.int64("effective"), expires: try spec.optionalInt64("expires") ?? defaultExpires,
                    location: try spec.string("location"), size: size.map { Int($0) }, index: index
                )
            }
            guard let chosen = Self.snapshotInForce(specs, nowMillis: nowMillis) else {
                throw metadata.fail("no salt snapshots listed")
            }
            if !(chosen.effective <= nowMillis && nowMillis < chosen.expires) {
                warnings.append("\(metadataFile): no salt snapshot is in force at \(nowMillis) ms; using the newest (effective \(chosen.effective), expires \(chosen.expires))")
            }
            let file = try resolve(location: chosen.location, metadataFile: metadataFile)
            let data = try load(file)
            var table = SaltTable(
                firstLevelSalt: Array(firstLevel.utf8), idPrefix: idPrefix, idSecret: idSecret,
                expectedCount: chosen.size ?? 0
            )
            try SaltFileParser.parse(data, file: file, into: &table) { done, total in
                report("salts", done, total)
            }
            if table.count == 0 { throw Failure(file: file, message: "no salt buckets") }
            if let size = chosen.size, size != table.count {
                warnings.append("\(file): metadata says \(size) buckets, the file has \(table.count); using the file")
            }
            return table
        }
    }
}

// MARK: - Salt CSV

extension CoreImport {
    /// One line per bucket: `id,last_updated_ms,current_salt,refresh_from_ms,previous_salt,cur_key_id,
    /// cur_key,cur_key_salt,prev_key_id,prev_key,prev_key_salt`. Empty or blank fields are absent;
    /// trailing fields may be missing altogether (older files have 3 or 5).
    enum SaltFileParser {
        static let fieldCount = 11

        static func parse(
            _ data: Data, file: String, into table: inout SaltTable, progress: (Int, Int) -> Void
        ) throws {
            if let first = data.first(where: { !isSpace($0) }), first == UInt8(ascii: "{") {
                if case .object(let members)? = try? JSONDecoder().decode(JSONValue.self, from: data), members["encrypted_payload"] != nil {
                    throw CoreImport.Reader.encrypted(file: file, members: members)
                }
                throw CoreImport.Failure(file: file, message: "expected salt CSV lines, found JSON")
            }
            try data.withUnsafeBytes { raw in
                let bytes = raw.bindMemory(to: UInt8.self)
                let total = estimateLines(bytes)
                var lineNumber = 0
                var start = 0
                var fields = [Range<Int>](repeating: 0..<0, count: fieldCount)
                while start < bytes.count {
                    var end = start
                    while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
                    let next = end + 1
                    lineNumber += 1
                    if end > start && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                    defer { start = next }
                    if (start..<end).allSatisfy({ isSpace(bytes[$0]) }) { continue }

                    var count = 0
                    var fieldStart = start
                    for position in start...end where position == end || bytes[position] == UInt8(ascii: ",") {
                        guard count < fieldCount else {
                            throw CoreImport.Failure(file: file, message: "line \(lineNumber): more than \(fieldCount) fields")
                        }
                        fields[count] = trimmed(bytes, fieldStart..<position)
                        count += 1
                        fieldStart = position + 1
                    }
                    for index in count..<fieldCount { fields[index] = end..<end }
                    let entry = try entry(bytes, fields, line: lineNumber, file: file)
                    table.append(entry)
                    if table.count % CoreImport.progressInterval == 0 { progress(table.count, max(total, table.count)) }
                }
                progress(table.count, table.count)
            }
        }

        private static func entry(_ bytes: UnsafeBufferPointer<UInt8>, _ fields: [Range<Int>], line: Int, file: String) throws -> SaltTable.Entry {
            func fail(_ message: String) -> CoreImport.Failure {
                CoreImport.Failure(file: file, message: "line \(line): \(message)")
            }
            func integer(_ index: Int, _ name: String) throws -> Int64? {
                let range = fields[index]
                if range.isEmpty { return nil }
                guard let value = parseInt64(bytes, range) else {
                    throw fail("\(name) is not an integer: \"\(String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self))\"")
                }
                return value
            }
            func text(_ index: Int) -> [UInt8]? {
                let range = fields[index]
                return range.isEmpty ? nil : Array(bytes[range])
            }
            func material(_ first: Int, _ name: String) throws -> SaltKeyMaterial? {
                let id = try integer(first, "\(name) key id")
                let key = text(first + 1)
                let salt = text(first + 2)
                if id == nil && key == nil && salt == nil { return nil }
                guard let id, let key, let salt else {
                    throw fail("incomplete \(name) key material: key id, key and key salt must all be present or all be empty")
                }
                guard let id32 = Int32(exactly: id) else { throw fail("\(name) key id \(id) is out of range") }
                guard [16, 24, 32].contains(key.count) else {
                    throw fail("\(name) key must be 16, 24 or 32 characters, got \(key.count)")
                }
                return SaltKeyMaterial(id: id32, key: key, salt: salt)
            }

            guard let id = try integer(0, "bucket id") else { throw fail("missing bucket id") }
            guard let lastUpdated = try integer(1, "last_updated") else { throw fail("missing last_updated") }
            let entry = SaltTable.Entry(
                id: id, lastUpdatedMillis: lastUpdated,
                // Older files have no refresh_from; 0 means "already due", so map v3 answers the next
                // midnight, as it does for any past refresh_from.
                refreshFromMillis: try integer(3, "refresh_from") ?? 0,
                currentSalt: text(2), previousSalt: text(4),
                currentKey: try material(5, "current"), previousKey: try material(8, "previous")
            )
            if entry.currentSalt == nil && entry.currentKey == nil {
                throw fail("bucket \(id) has neither a current salt nor current key material")
            }
            return entry
        }

        private static func isSpace(_ byte: UInt8) -> Bool {
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
        }

        private static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Range<Int> {
            var lower = range.lowerBound
            var upper = range.upperBound
            while lower < upper && isSpace(bytes[lower]) { lower += 1 }
            while upper > lower && isSpace(bytes[upper - 1]) { upper -= 1 }
            return lower..<upper
        }

        static func parseInt64(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int64? {
            var index = range.lowerBound
            var negative = false
            if index < range.upperBound && (bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+")) {
                negative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            guard index < range.upperBound else { return nil }
            var value: Int64 = 0
            while index < range.upperBound {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = negative ? times.subtractingReportingOverflow(Int64(digit)) : times.addingReportingOverflow(Int64(digit))
                guard !overflow1 && !overflow2 else { return nil }
                value = sum
                index += 1
            }
            return value
        }

        private static func estimateLines(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
            var count = 0
            for byte in bytes where byte == UInt8(ascii: "\n") { count += 1 }
            return bytes.last == UInt8(ascii: "\n") || bytes.isEmpty ? count : count + 1
        }
    }
}

// MARK: - JSON

extension CoreImport {
    /// A JSON document as plain values, so every field can be checked with an error naming the file
    /// and entry (`Codable` models would throw at the first surprise, with a coding path instead).
    indirect enum JSONValue: Decodable, Sendable {
        case null
        case bool(Bool)
        case integer(Int64)
        case number(Double)
        case string(String)
        case array([JSONValue])
        case object([String: JSONValue])

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let value = try? container.decode(Bool.self) {
                self = .bool(value)
            } else if let value = try? container.decode(Int64.self) {
                self = .integer(value)
            } else if let value = try? container.decode(Double.self) {
                self = .number(value)
            } else if let value = try? container.decode(String.self) {
                self = .string(value)
            } else if let value = try? container.decode([JSONValue].self) {
                self = .array(value)
            } else {
                self = .object(try container.decode([String: JSONValue].self))
            }
        }

        var typeName: String {
            switch self {
            case .null: "null"
            case .bool: "a boolean"
            case .integer, .number: "a number"
            case .string: "a string"
            case .array: "an array"
            case .object: "an object"
            }
        }

        var compactText: String {
            switch self {
            case .null: "null"
            case .bool(let value): String(value)
            case .integer(let value): String(value)
            case .number(let value): String(value)
            case .string(let value): "\"\(value)\""
            case .array: "[…]"
            case .object: "{…}"
            }
        }
    }

    /// A JSON object with typed accessors whose errors say where the value was.
    struct JSONObject {
        let members: [String: JSONValue]
        let file: String
        let label: String

        func with(label: String) -> JSONObject { JSONObject(members: members, file: file, label: label) }

        func fail(_ message: String) -> CoreImport.Failure {
            CoreImport.Failure(file: file, message: "\(label): \(message)")
        }

        /// The value, treating JSON null like an absent member.
        private func present(_ key: String) -> JSONValue? {
            switch members[key] {
            case nil, .null?: nil
            case let value?: value
            }
        }

        private func required(_ key: String) throws -> JSONValue {
            guard let value = present(key) else { throw fail("missing \"\(key)\"") }
            return value
        }

        func string(_ key: String) throws -> String {
            guard case .string(let text) = try required(key) else { throw fail("\"\(key)\" must be a string") }
            return text
        }

        func optionalString(_ key: String) throws -> String? {
            guard let value = present(key) else { return nil }
            guard case .string(let text) = value else { throw fail("\"\(key)\" must be a string, not \(value.typeName)") }
            return text
        }

        func int64(_ key: String) throws -> Int64 {
            try integer(try required(key), key)
        }

        func optionalInt64(_ key: String) throws -> Int64? {
            try present(key).map { try integer($0, key) }
        }

        func int32(_ key: String) throws -> Int32 {
            try narrow(try int64(key), key)
        }

        func optionalInt32(_ key: String) throws -> Int32? {
            try optionalInt64(key).map { try narrow($0, key) }
        }

        private func narrow(_ value: Int64, _ key: String) throws -> Int32 {
            guard let narrowed = Int32(exactly: value) else { throw fail("\"\(key)\" \(value) is out of range") }
            return narrowed
        }

        private func integer(_ value: JSONValue, _ key: String) throws -> Int64 {
            switch value {
            case .integer(let number):
                return number
            case .number(let number):
                guard let exact = Int64(exactly: number) else { throw fail("\"\(key)\" must be an integer, not \(number)") }
                return exact
            default:
                throw fail("\"\(key)\" must be an integer, not \(value.typeName)")
            }
        }

        func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
            guard let value = present(key) else { return defaultValue }
            guard case .bool(let flag) = value else { throw fail("\"\(key)\" must be true or false, not \(value.typeName)") }
            return flag
        }

        /// Decoded as Java's `Base64.getDecoder()` would (non-zero trailing bits tolerated).
        func base64(_ key: String) throws -> [UInt8] {
            let text = try string(key)
            guard let bytes = Base64.decode(text) else { throw fail("\"\(key)\" is not valid base64") }
            return bytes
        }

        func array(_ key: String) throws -> [JSONValue] {
            guard case .array(let items) = try required(key) else { throw fail("\"\(key)\" must be an array") }
            return items
        }

        /// nil when absent or null.
        func stringArray(_ key: String) throws -> [String]? {
            guard let value = present(key) else { return nil }
            guard case .array(let items) = value else { throw fail("\"\(key)\" must be an array of strings, not \(value.typeName)") }
            return try items.enumerated().map { index, item in
                guard case .string(let text) = item else { throw fail("\"\(key)\"[\(index)] must be a string, not \(item.typeName)") }
                return text
            }
        }

        /// nil when absent or null (the reference's "no restriction" for `allowed_sites`).
        func int32Array(_ key: String) throws -> [Int32]? {
            guard let value = present(key) else { return nil }
            guard case .array(let items) = value else { throw fail("\"\(key)\" must be null or an array of integers, not \(value.typeName)") }
            return try items.enumerated().map { index, item in
                try narrow(try integer(item, "\(key)[\(index)]"), "\(key)[\(index)]")
            }
        }

        func optionalObject(_ key: String) throws -> JSONObject? {
            guard let value = present(key) else { return nil }
            guard case .object(let members) = value else { throw fail("\"\(key)\" must be an object, not \(value.typeName)") }
            return JSONObject(members: members, file: file, label: label == "metadata" ? key : "\(label).\(key)")
        }
    }
}
