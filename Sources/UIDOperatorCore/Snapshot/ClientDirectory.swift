import UIDProtocol

/// Finds the client behind an API key without ever holding plaintext keys.
///
/// A client's key id is the beginning of its key (`UID2-C-L-999-fCXrM` for
/// `UID2-C-L-999-fCXrMM.…`, in keys the reference's admin and this operator issue). Candidates are
/// found by looking up the presented key's prefixes of each key-id length the directory holds, so
/// an unknown or malformed key costs a few dictionary probes and no hashing at all, however many
/// clients there are; a matching candidate is hashed once and compared in constant time. Clients
/// stored without a key id (old imports) are the only ones tried one by one.
public struct ClientDirectory: Sendable {
    /// No issued key comes near this; longer ones are refused before any hashing.
    public static let maxAPIKeyBytes = 512

    public let clients: [ClientKey]
    private let byKeyID: [String: [Int]]
    /// The distinct lengths (in UTF-8 bytes) of the key ids above: a handful at most.
    private let keyIDLengths: [Int]
    private let withoutKeyID: [Int]

    public init(_ clients: [ClientKey]) {
        self.clients = clients
        var byKeyID = [String: [Int]]()
        var withoutKeyID = [Int]()
        for (index, client) in clients.enumerated() {
            if client.keyID.isEmpty {
                withoutKeyID.append(index)
            } else {
                byKeyID[client.keyID, default: []].append(index)
            }
        }
        self.byKeyID = byKeyID
        self.keyIDLengths = Set(byKeyID.keys.map(\.utf8.count)).sorted()
        self.withoutKeyID = withoutKeyID
    }

    /// The client for `apiKey`, disabled or not; callers decide what a disabled client may do.
    public func client(forAPIKey apiKey: String) -> ClientKey? {
        let utf8 = apiKey.utf8
        guard !utf8.isEmpty, utf8.count <= Self.maxAPIKeyBytes else { return nil }
        for length in keyIDLengths {
            guard length <= utf8.count else { break }
            guard let prefix = String(utf8.prefix(length)), let candidates = byKeyID[prefix] else { continue }
            if let match = firstMatch(apiKey, candidates) { return match }
        }
        return firstMatch(apiKey, withoutKeyID)
    }

    private func firstMatch(_ apiKey: String, _ candidates: some Sequence<Int>) -> ClientKey? {
        for index in candidates {
            let client = clients[index]
            if APIKeyHasher.constantTimeEquals(APIKeyHasher.hash(key: apiKey, salt: client.keySalt), client.keyHash) {
                return client
            }
        }
        return nil
    }
}
