import Hummingbird

/// Liveness for load balancers: `OK` while the operator can serve.
struct OpsRoutes: Sendable {
    func register(on router: Router<BasicRequestContext>) {
        router.get("/ops/healthcheck") { _, _ in APIResponse.plainText(.ok, "OK") }
    }
}
