import UIDProtocol

/// Finds the client behind an API key without ever holding plaintext keys.
///
/// Candidates are narrowed by the key's visible prefix (its key id, else its site id, as in the
/// reference) so that a request normally hashes once; each candidate is checked with a
/// constant-time comparison.
public struct ClientDirectory: Sendable {
    public let clients: [ClientKey]
    private let byKeyID: [String: [Int]]
    private let bySite: [Int32: [Int]]

    public init(_ clients: [ClientKey]) {
        self.clients = clients
        var byKeyID = [String: [Int]]()
        var bySite = [Int32: [Int]]()
        for (index, client) in clients.enumerated() {
            byKeyID[client.keyID, default: []].append(index)
            bySite[client.siteID, default: []].append(index)
        }
        self.byKeyID = byKeyID
        self.bySite = bySite
    }

    /// The client for `apiKey`, disabled or not; callers decide what a disabled client may do.
    public func client(forAPIKey apiKey: String) -> ClientKey? {
        let parts = KeyParts(apiKey)
        if let keyID = parts?.keyID, let candidates = byKeyID[keyID], let match = firstMatch(apiKey, candidates) {
            return match
        }
        if let site = parts?.siteID, let candidates = bySite[site] {
            return firstMatch(apiKey, candidates)
        }
        return firstMatch(apiKey, clients.indices)
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

    /// `<SCOPE>-<C|O>-<env>-<site>-<6 chars>.<rest>`; the key id is everything before the dot but
    /// its last character.
    struct KeyParts {
        var siteID: Int32
        var keyID: String

        init?(_ key: String) {
            guard let dot = key.firstIndex(of: ".") else { return nil }
            let head = key[..<dot]
            let fields = head.split(separator: "-", omittingEmptySubsequences: false)
            guard fields.count == 5, fields[0] == "UID2" || fields[0] == "EUID",
                  let site = Int32(fields[3]), fields[4].count == 6
            else { return nil }
            siteID = site
            keyID = String(head.dropLast())
        }
    }
}
