import Hummingbird
import Metrics
import Shared

/// Hummingbird's request metrics — the same series, names and labels as its `MetricsMiddleware`
/// (`hb_requests`, `http_server_request_duration`, `hb_request_errors`,
/// `http_server_active_requests`) — recorded when the response is ready rather than once it is written.
///
/// Hummingbird's middleware records after the write by wrapping the body in a closure, and a closure
/// body is written in two parts: the head, then the body, each its own socket write and TCP segment.
/// Every reservation's answer cost two `write` calls instead of one (strace, 2026-11-25), and the
/// client woke up twice. An untouched single-buffer body is written with its head in one.
/// The duration therefore ends when the response is handed to the server, before its bytes are sent.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    private let cache = Cache()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let active = cache.activeRequests(method: request.method)
        active.increment()
        defer { active.decrement() }
        do {
            let response = try await next(request, context)
            let metrics = cache.endpoint(route: context.endpointPath ?? "Unknown", method: request.method, status: response.status)
            metrics.requests.increment()
            metrics.duration.record(duration: ContinuousClock.now - started)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            let metrics = cache.endpoint(route: context.endpointPath ?? "NotFound", method: request.method, status: status)
            metrics.requests.increment()
            metrics.errors.increment()
            throw error
        }
    }

    /// The metric objects per method and per (route, method, status), made once.
    struct Cache: Sendable {
        struct Endpoint: Sendable {
            let requests: Counter
            let duration: Timer
            let errors: Counter
        }

        private struct Key: Hashable, Sendable {
            let route: String
            let method: HTTPRequest.Method
            let status: Int
        }

        private let endpoints = MadeOnce { (key: Key) in
            let labels = [("http.route", key.route), ("http.request.method", key.method.description)]
            return Endpoint(
                requests: Counter(label: "hb.requests", dimensions: labels + [("http.response.status_code", "\(key.status)")]),
                duration: Timer(label: "http.server.request.duration", dimensions: labels + [("http.response.status_code", "\(key.status)")],
                                preferredDisplayUnit: .seconds),
                errors: Counter(label: "hb.request.errors", dimensions: labels + [("error.type", "\(key.status)")]))
        }
        private let methods = MadeOnce { (method: HTTPRequest.Method) in
            Meter(label: "http.server.active_requests", dimensions: [("http.request.method", method.description)])
        }

        func activeRequests(method: HTTPRequest.Method) -> Meter { methods(method) }

        func endpoint(route: String, method: HTTPRequest.Method, status: HTTPResponse.Status) -> Endpoint {
            endpoints(Key(route: route, method: method, status: status.code))
        }
    }
}
