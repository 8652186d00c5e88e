import Foundation
import UIDOperatorCore
import UIDProtocol

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
                message: "data file \"\(location)\" not found in \(directory.path) (expected e.g. \(folder)/\(components.last ?? location))"
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
        /// The entries of a store every export has.
        func requiredEntries(_ store: StoreSpec) throws -> (file: String, entries: [JSONObject]) {
            guard let found = try entries(store) else {
                throw Failure(file: "\(store.folder)/metadata.json", message: "missing: the directory must be a core store export (the folder holding clients/, keysets/, keyset_keys/, salts/ …)")
            }
            return found
        }

        /// The entries of a store, nil when the export has none.
        func entries(_ store: StoreSpec) throws -> (file: String, entries: [JSONObject])? {
            guard let (metadataFile, metadata) = try metadata(store.folder) else { return nil }
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
    }
}
