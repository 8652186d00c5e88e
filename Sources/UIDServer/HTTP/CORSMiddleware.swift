import Hummingbird

/// CORS as the reference answers it: browsers call refresh and client-side generate from any page.
/// Preflights get 204; other answers carry the caller's origin.
struct CORSMiddleware<Context: RequestContext>: RouterMiddleware {
    static var allowedHeaders: String {
        "X-UID2-Client-Version, Access-Control-Request-Method, Access-Control-Allow-Credentials, Access-Control-Allow-Origin, Access-Control-Allow-Headers, Content-Type"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin] else { return try await next(request, context) }
        if request.method == .options {
            var headers: HTTPFields = [
                .accessControlAllowOrigin: origin,
                .accessControlAllowMethods: "GET, POST, OPTIONS",
                .accessControlAllowHeaders: Self.headers(for: request.uri.path),
                .accessControlMaxAge: "3600",
            ]
            headers[.vary] = "Origin"
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.vary] = "Origin"
        return response
    }

    static func headers(for path: String) -> String {
        path == "/v2/token/validate" ? allowedHeaders + ", Authorization" : allowedHeaders
    }
}
