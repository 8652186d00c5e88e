import Foundation
import Hummingbird
import UIDOperatorCore

/// Health for load balancers (public: it says only OK or why not) and a status page for the
/// operator's staff, which names store errors and counts and so needs a `MAINTAINER` client's key.
struct OpsRoutes: Sendable {
    let holder: SnapshotHolder
    let status: SyncStatus
    let clock: OperatorClock
    /// How long a node may serve from a snapshot it cannot refresh before it reports unhealthy
    /// (the reference's `store_refresh_stale_shutdown_hours`).
    let staleLimitMillis: Int64

    func register(on router: Router<BasicRequestContext>) {
        router.get("/ops/healthcheck") { _, _ in healthcheck() }
        router.get("/ops/status") { request, _ in
            guard Authentication.authorize(request, roles: [.maintainer], in: holder.current) != nil else {
                return APIResponse.unauthorized
            }
            return statusPage()
        }
    }

    /// `OK` while in step with the store. When the store is unreachable the node keeps serving
    /// (200, with the reason on a second line) until its snapshot is older than the stale limit.
    /// A store that refuses writes (a full disk, a read-only file system) is reported the same way:
    /// tokens are still served, only opt-outs are refused, until a write succeeds again.
    func healthcheck() -> Response {
        let values = status.values
        let now = clock.nowMillis()
        var reasons: [String] = []
        if let failingSince = values.failingSinceMillis {
            reasons.append("store: unreachable for \((now - failingSince) / 1000) s, serving from the snapshot of \((now - values.lastSuccessMillis) / 1000) s ago (\(values.lastError ?? "unknown error"))")
        }
        if let writesFailingSince = values.writesFailingSinceMillis {
            reasons.append("store: refusing writes for \((now - writesFailingSince) / 1000) s, opt-outs answered 503 (\(values.lastWriteError ?? "unknown error"))")
        }
        guard !reasons.isEmpty else { return APIResponse.plainText(.ok, "OK") }
        if values.failingSinceMillis != nil, now - values.lastSuccessMillis > staleLimitMillis {
            return APIResponse.plainText(.serviceUnavailable, reasons.joined(separator: "\n"))
        }
        return APIResponse.plainText(.ok, (["OK"] + reasons).joined(separator: "\n"))
    }

    func statusPage() -> Response {
        let snapshot = holder.current
        let body = StatusBody(
            sync: status.values, scope: snapshot.config.scope.displayName, salt_buckets: snapshot.salts.count,
            clients: snapshot.clients.clients.count, sites: snapshot.sites.count, keys: snapshot.keys.allKeys.count,
            optouts: snapshot.optOuts.count + snapshot.recentOptOuts.count
        )
        return APIResponse.json(.ok, body)
    }

    struct StatusBody: Encodable {
        let sync: SyncStatus.Values
        let scope: String
        let salt_buckets: Int
        let clients: Int
        let sites: Int
        let keys: Int
        let optouts: Int
    }
}
