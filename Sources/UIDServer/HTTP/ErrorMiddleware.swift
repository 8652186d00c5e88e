import Hummingbird
import Logging

/// Last line of defence: whatever escapes a route (unknown path, wrong method, a bug) becomes a
/// JSON answer with the right code instead of the framework's default body.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let knownPaths: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPResponseError {
            switch error.status {
            case .notFound where knownPaths.contains(request.uri.path), .methodNotAllowed:
                return APIResponse.error(.methodNotAllowed, "method_not_allowed", "\(request.method) is not allowed on \(request.uri.path)")
            case .notFound: return APIResponse.error(.notFound, "not_found", "No route for \(request.method) \(request.uri.path)")
            case .contentTooLarge: return APIResponse.tooLarge
            default:
                return APIResponse.error(error.status, error.status.code < 500 ? "client_error" : "unknown", error.status.reasonPhrase)
            }
        } catch {
            context.logger.error("Unhandled error", metadata: ["path": "\(request.uri.path)", "error": "\(type(of: error))"])
            return APIResponse.error(.internalServerError, "unknown", "Internal Server Error")
        }
    }
}
