import Foundation
import Hummingbird
import UIDOperatorCore

enum Authentication {
    /// `Authorization: Bearer <key>`: the header is trimmed, the scheme matched case-insensitively,
    /// and the rest taken as the key.
    static func apiKey(fromHeader header: String?) -> String? {
        guard let header else { return nil }
        // Keys are ASCII: trim and match on bytes, and leave anything else to Foundation's rules.
        guard header.utf8.allSatisfy({ $0 < 0x80 }) else { return unicodeAPIKey(header) }
        let bytes = header.utf8
        guard let first = bytes.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }),
              let last = bytes.lastIndex(where: { $0 != 0x20 && $0 != 0x09 })
        else { return nil }
        let trimmed = bytes[first...last]
        guard trimmed.count > 7 else { return nil }
        let scheme = trimmed.prefix(7)
        guard zip(scheme, "bearer ".utf8).allSatisfy({ (0x41...0x5A ~= $0 ? $0 | 0x20 : $0) == $1 }) else { return nil }
        return String(Substring(trimmed.dropFirst(7)))
    }

    private static func unicodeAPIKey(_ header: String) -> String? {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.count > 7, trimmed.prefix(7).lowercased() == "bearer " else { return nil }
        return String(trimmed.dropFirst(7))
    }

    /// The caller's client if the core lets it call an endpoint open to `roles`, or nil (→ 401).
    static func authorize(_ request: Request, roles: [Role], in snapshot: OperatorSnapshot) -> ClientKey? {
        authorize(authorizationHeader: request.headers[.authorization], roles: roles, in: snapshot)
    }

    static func authorize(authorizationHeader: String?, roles: [Role], in snapshot: OperatorSnapshot) -> ClientKey? {
        guard let key = apiKey(fromHeader: authorizationHeader) else { return nil }
        return snapshot.authorizedClient(apiKey: key, roles: roles)
    }

    /// Refresh accepts any known key, even a disabled client's, as "authenticated" (the reference's rule).
    static func isKnownClient(authorizationHeader: String?, in snapshot: OperatorSnapshot) -> Bool {
        guard let key = apiKey(fromHeader: authorizationHeader) else { return false }
        return snapshot.clients.client(forAPIKey: key) != nil
    }
}

import Foundation
