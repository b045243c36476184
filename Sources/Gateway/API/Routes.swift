/// Every route of the API, in one place: the controllers register these paths, the 405 check
/// matches against them, and a test compares them with `openapi.yaml`.
enum Routes {
    static let users = "/v1/users"
    static let queueTokens = "/v1/queue/tokens"
    static let currentToken = "/v1/queue/tokens/current"
    static let tokenEvents = "/v1/queue/tokens/current/events"
    static let concerts = "/v1/concerts"
    static let concertSchedules = "/v1/concerts/{concertId}/schedules"
    static let scheduleSeats = "/v1/schedules/{scheduleId}/seats"
    static let adminConcerts = "/v1/admin/concerts"
    static let adminRooms = "/v1/admin/rooms"
    static let adminRoom = "/v1/admin/rooms/{roomId}"
    static let adminJobs = "/v1/admin/jobs"
    static let adminJob = "/v1/admin/jobs/{jobId}"
    static let adminJobRetry = "/v1/admin/jobs/{jobId}/retry"
    static let adminStats = "/v1/admin/stats"
    static let room = "/v1/rooms/{roomId}"
    static let points = "/v1/points"
    static let charge = "/v1/points/charge"
    static let history = "/v1/points/history"
    static let job = "/v1/jobs/{jobId}"
    static let reservations = "/v1/reservations"
    static let reservation = "/v1/reservations/{reservationId}"
    static let payments = "/v1/payments"
    static let openAPI = "/openapi.yaml"
    static let fanApp = "/"
    static let operatorConsole = "/admin"
    static let webAsset = "/assets/{name}"

    /// Method and path template of each route (`{name}` is a path parameter).
    static let all: [(method: String, path: String)] = [
        ("POST", users),
        ("POST", queueTokens),
        ("GET", currentToken), ("GET", tokenEvents),
        ("GET", concerts), ("GET", concertSchedules), ("GET", scheduleSeats),
        ("GET", room),
        ("POST", adminConcerts),
        ("POST", adminRooms), ("GET", adminRooms), ("GET", adminRoom), ("PATCH", adminRoom),
        ("GET", adminJobs), ("POST", adminJobRetry), ("DELETE", adminJob), ("GET", adminStats),
        ("GET", points), ("POST", charge), ("GET", history), ("GET", job),
        ("POST", reservations), ("GET", reservations), ("DELETE", reservation), ("POST", payments),
        ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", openAPI),
        ("GET", fanApp), ("GET", operatorConsole), ("GET", webAsset),
    ]

    /// Whether some route has this path (with any method).
    static func knows(path: String) -> Bool {
        !methods(forPath: path).isEmpty
    }

    /// The methods the routes with this path answer, for a `405`'s `Allow` header (`HEAD` beside
    /// `GET`, answered by ``HeadMiddleware``, except on the live-update stream).
    static func methods(forPath path: String) -> [String] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        var methods: [String] = []
        for route in all {
            let template = route.path.split(separator: "/", omittingEmptySubsequences: true)
            guard template.count == parts.count, zip(template, parts).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }) else { continue }
            methods.append(route.method)
            if route.method == "GET" && route.path != tokenEvents { methods.append("HEAD") }
        }
        return methods
    }
}
