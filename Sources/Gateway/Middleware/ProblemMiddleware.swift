import Hummingbird
import Logging
import NIOCore
import Shared

/// Turns every failure into an `application/problem+json` answer with docs/api.md's codes.
/// No request, however malformed, gets a 5xx other than `503 unavailable`; no internal text leaks.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return try problem.response(from: request, context: context)
        } catch let error as HTTPError {
            let allowed = Routes.methods(forPath: request.uri.path)
            let problem: Problem = switch error.status {
            case .notFound, .methodNotAllowed: allowed.isEmpty ? .notFound : .methodNotAllowed(allow: allowed)
            case .contentTooLarge: .payloadTooLarge
            case .badRequest: .invalidRequest(error.body ?? "The request is malformed.")
            case .unauthorized: .unauthorized
            default: .unavailable()
            }
            return try problem.response(from: request, context: context)
        } catch is NIOTooManyBytesError {
            return try Problem.payloadTooLarge.response(from: request, context: context)
        } catch {
            logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            return try Problem.unavailable().response(from: request, context: context)
        }
    }
}
