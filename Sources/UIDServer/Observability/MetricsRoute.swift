import Hummingbird
import UIDOperatorCore
import NIOCore

/// `GET /metrics`: the Prometheus text exposition. Counts and ages only, never a key, secret,
/// token or identity; served without a key, like the reference's metrics port, so it belongs on
/// a private network (or on its own port, `serve --metrics-port`).
struct MetricsRoute: Sendable {
    static let path = "/metrics"

    let metrics: OperatorMetrics
    let holder: SnapshotHolder
    let status: SyncStatus
    let clock: OperatorClock
    let staleLimitMillis: Int64

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get(RouterPath(stringLiteral: Self.path)) { _, _ in response() }
    }

    func response() -> Response {
        metrics.state.refresh(snapshot: holder.current, sync: status.values, nowMillis: clock.nowMillis(), staleLimitMillis: staleLimitMillis)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.render()))
        )
    }
}
