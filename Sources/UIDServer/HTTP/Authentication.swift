import Hummingbird
import UIDOperatorCore

enum Authentication {
    /// `Authorization: Bearer <key>`: the header is trimmed, the scheme matched case-insensitively,
    /// and the rest taken as the key.
    static func apiKey(from request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.count > 7, trimmed.prefix(7).lowercased() == "bearer " else { return nil }
        return String(trimmed.dropFirst(7))
    }

    /// An enabled client holding at least one of `roles`, or nil (→ 401).
    static func authorize(_ request: Request, roles: [Role], in snapshot: OperatorSnapshot) -> ClientKey? {
        guard let key = apiKey(from: request), let client = snapshot.clients.client(forAPIKey: key),
              !client.disabled, client.hasAnyRole(roles)
        else { return nil }
        return client
    }

    /// Refresh accepts any known key, even a disabled client's, as "authenticated" (the reference's rule).
    static func isKnownClient(_ request: Request, in snapshot: OperatorSnapshot) -> Bool {
        guard let key = apiKey(from: request) else { return false }
        return snapshot.clients.client(forAPIKey: key) != nil
    }
}

import Foundation
