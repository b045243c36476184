import Hummingbird
import Metrics
import Synchronization

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

    /// The metric objects per method and per (route, method, status), made once: swift-metrics
    /// looks a label up in the factory each time one is made.
    final class Cache: Sendable {
        struct Endpoint: Sendable {
            let requests: Counter
            let duration: Timer
            let errors: Counter
        }

        private struct Key: Hashable {
            let route: String
            let method: HTTPRequest.Method
            let status: Int
        }

        private let endpoints = Mutex<[Key: Endpoint]>([:])
        private let methods = Mutex<[HTTPRequest.Method: Meter]>([:])

        func activeRequests(method: HTTPRequest.Method) -> Meter {
            methods.withLock { meters in
                if let meter = meters[method] { return meter }
                let meter = Meter(label: "http.server.active_requests", dimensions: [("http.request.method", method.description)])
                meters[method] = meter
                return meter
            }
        }

        func endpoint(route: String, method: HTTPRequest.Method, status: HTTPResponse.Status) -> Endpoint {
            let key = Key(route: route, method: method, status: status.code)
            return endpoints.withLock { endpoints in
                if let endpoint = endpoints[key] { return endpoint }
                let labels = [("http.route", route), ("http.request.method", method.description)]
                let endpoint = Endpoint(
                    requests: Counter(label: "hb.requests", dimensions: labels + [("http.response.status_code", "\(status.code)")]),
                    duration: Timer(label: "http.server.request.duration", dimensions: labels + [("http.response.status_code", "\(status.code)")],
                                    preferredDisplayUnit: .seconds),
                    errors: Counter(label: "hb.request.errors", dimensions: labels + [("error.type", "\(status.code)")]))
                endpoints[key] = endpoint
                return endpoint
            }
        }
    }
}
