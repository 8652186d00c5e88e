import Hummingbird

/// `POST /bench/echo`: answers with the request body. It passes through the same router and
/// middleware as the API, so the benchmark can compare every endpoint with what the server costs
/// before any operator work. Registered only when `serve --benchmark-echo-route` asks for it.
struct BenchmarkRoutes: Sendable {
    static let echoPath = "/bench/echo"

    func register(on router: Router<BasicRequestContext>) {
        router.post(RouterPath(stringLiteral: Self.echoPath)) { request, _ -> Response in
            guard let body = try? await request.body.collect(upTo: APIResponse.maxBodyBytes) else { return APIResponse.tooLarge }
            return Response(status: .ok, headers: [.contentType: "text/plain"], body: ResponseBody(byteBuffer: body))
        }
    }
}
