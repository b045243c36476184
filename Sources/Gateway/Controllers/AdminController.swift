import Foundation
import Hummingbird
import Shared

/// The operator's API, for holders of `ADMIN_KEY`: concerts with their schedules and seats,
/// waiting rooms (create, list, read, change), jobs (list, retry or discard the dead) and stats.
struct AdminController<Context: RequestContext> {
    let adminKey: String?
    let catalog: CatalogStore
    let rooms: RoomStore
    let jobs: JobStore
    let database: GatewayDatabase

    func addRoutes(to router: Router<Context>) {
        router.post(RouterPath(Routes.adminConcerts)) { request, _ in try await createConcert(request) }
        router.post(RouterPath(Routes.adminRooms)) { request, _ in try await createRoom(request) }
        router.get(RouterPath(Routes.adminRooms)) { request, _ in try await listRooms(request) }
        router.get(RouterPath(Routes.adminRoom)) { request, context in try await room(request, context) }
        router.patch(RouterPath(Routes.adminRoom)) { request, context in try await changeRoom(request, context) }
        router.get(RouterPath(Routes.adminJobs)) { request, _ in try await listJobs(request) }
        router.post(RouterPath(Routes.adminJobRetry)) { request, context in try await changeDeadJob(request, context, retry: true) }
        router.delete(RouterPath(Routes.adminJob)) { request, context in try await changeDeadJob(request, context, retry: false) }
        router.get(RouterPath(Routes.adminStats)) { request, _ in try await stats(request) }
    }

    struct JobList: Encodable { let jobs: [JobStore.Summary] }

    struct Stats: Encodable {
        let jobs: JobStore.Counts
        let rooms: [RoomStore.Room]
    }

    func listJobs(_ request: Request) async throws -> Response {
        try authorize(request)
        let query = request.uri.queryParameters
        let state = try query.get("state").map { raw -> JobState in
            guard raw == "dead" || raw == "queued", let state = JobState(rawValue: raw) else {
                throw Problem.invalidRequest("'state' must be dead or queued.")
            }
            return state
        } ?? .dead
        let kind = try query.get("kind").map { raw -> String in
            guard (1...100).contains(raw.utf8.count), raw.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw Problem.invalidRequest("'kind' must be 1 to 100 visible ASCII characters.")
            }
            return raw
        }
        let paging = try Paging(request, limits: 1...500)
        let list = try await database.run { _ in try await jobs.summaries(state: state, kind: kind, limit: paging.limit, before: paging.before) }
        return try JSONBody.response(JobList(jobs: list))
    }

    /// `POST /v1/admin/jobs/{jobId}/retry` (`retry`) or `DELETE /v1/admin/jobs/{jobId}`: only a dead job.
    func changeDeadJob(_ request: Request, _ context: Context, retry: Bool) async throws -> Response {
        try authorize(request)
        let id = try PathID.parse("jobId", from: context)
        let change = try await database.run { _ in retry ? try await jobs.retryDead(id: id) : try await jobs.discardDead(id: id) }
        switch change {
        case .done(let summary):
            guard retry, let summary else { return Response(status: .noContent) }
            return try JSONBody.response(summary)
        case .notDead:
            throw Problem(status: .conflict, code: "job_not_dead", title: "Job not dead",
                          detail: "Only a dead job can be retried or removed; job \(id) is not dead.")
        case .notFound:
            throw Problem.notFound
        }
    }

    func stats(_ request: Request) async throws -> Response {
        try authorize(request)
        let counts = try await database.run { _ in try await jobs.counts() }
        return try JSONBody.response(Stats(jobs: counts, rooms: try await rooms.rooms()))
    }

    struct NewConcert: Decodable {
        let title: String
        let artist: String
        let schedules: [NewSchedule]
    }

    struct NewSchedule: Decodable {
        let startsAt: String
        let price: Int64
        let seats: Int?
    }

    func createConcert(_ request: Request) async throws -> Response {
        try authorize(request)
        let body = try await JSONBody.decode(NewConcert.self, from: request)
        for (field, value) in [("title", body.title), ("artist", body.artist)] {
            _ = try TextFields.check(value, field: field, length: 1...200)
        }
        guard (1...100).contains(body.schedules.count) else { throw Problem.invalidRequest("'schedules' must have 1 to 100 entries.") }
        var schedules: [CatalogStore.NewSchedule] = []
        for (index, schedule) in body.schedules.enumerated() {
            guard let startsAt = TextFields.time(schedule.startsAt) else {
                throw Problem.invalidRequest(
                    "'schedules[\(index)].startsAt' must be an RFC 3339 time in the years 2000 to 9999, e.g. 2026-12-24T19:00:00Z.")
            }
            guard (0...1_000_000_000).contains(schedule.price) else {
                throw Problem.invalidRequest("'schedules[\(index)].price' must be 0 to 1,000,000,000 points.")
            }
            let seats = schedule.seats ?? 50
            guard (1...1000).contains(seats) else { throw Problem.invalidRequest("'schedules[\(index)].seats' must be 1 to 1000.") }
            schedules.append(.init(startsAt: startsAt, price: schedule.price, seats: seats))
        }
        let created = try await catalog.createConcert(title: body.title, artist: body.artist, schedules: schedules)
        return try JSONBody.response(created, status: .created)
    }

    struct NewRoom: Decodable {
        let name: String
        let concertIds: [Int64]
        let opensAt: String?
        let admitPerSecond: Double?
        let maxActive: Int?
        let activeTtl: Double?
        let idleTtl: Double?
    }

    struct RoomChange: Decodable {
        let state: String?
        let opensAt: String?
        let admitPerSecond: Double?
        let maxActive: Int?
        let activeTtl: Double?
        let idleTtl: Double?
    }

    struct RoomList: Encodable { let rooms: [RoomStore.Room] }

    func createRoom(_ request: Request) async throws -> Response {
        try authorize(request)
        let body = try await JSONBody.decode(NewRoom.self, from: request)
        let name = try TextFields.check(body.name, field: "name", length: 1...200)
        guard (1...100).contains(body.concertIds.count) else { throw Problem.invalidRequest("'concertIds' must have 1 to 100 entries.") }
        guard body.concertIds.allSatisfy({ $0 > 0 }) else { throw Problem.invalidRequest("'concertIds' must be positive integers.") }
        let settings = try Self.settings(opensAt: body.opensAt, admitPerSecond: body.admitPerSecond, maxActive: body.maxActive,
                                         activeTtl: body.activeTtl, idleTtl: body.idleTtl)
        var seen = Set<Int64>()
        let concerts = body.concertIds.filter { seen.insert($0).inserted }
        switch try await rooms.create(name: name, concertIDs: concerts, settings: settings) {
        case .success(let room): return try JSONBody.response(room, status: .created)
        case .failure(let refusal): throw Self.problem(refusal)
        }
    }

    func listRooms(_ request: Request) async throws -> Response {
        try authorize(request)
        return try JSONBody.response(RoomList(rooms: try await rooms.rooms()))
    }

    func room(_ request: Request, _ context: Context) async throws -> Response {
        try authorize(request)
        let id = try PathID.parse("roomId", from: context)
        guard let room = try await rooms.rooms(id: id).first else { throw Problem.notFound }
        return try JSONBody.response(room)
    }

    func changeRoom(_ request: Request, _ context: Context) async throws -> Response {
        try authorize(request)
        let id = try PathID.parse("roomId", from: context)
        let body = try await JSONBody.decode(RoomChange.self, from: request)
        if let state = body.state, !["open", "paused"].contains(state) {
            throw Problem.invalidRequest("'state' must be \"open\" or \"paused\" (a room never goes back to scheduled).")
        }
        let settings = try Self.settings(opensAt: body.opensAt, admitPerSecond: body.admitPerSecond, maxActive: body.maxActive,
                                         activeTtl: body.activeTtl, idleTtl: body.idleTtl)
        switch try await rooms.change(id: id, state: body.state, settings: settings) {
        case .success(let room): return try JSONBody.response(room)
        case .failure(let refusal): throw Self.problem(refusal)
        }
    }

    /// A room's settings from a request, each in docs/api.md's range or `400`.
    static func settings(opensAt: String?, admitPerSecond: Double?, maxActive: Int?, activeTtl: Double?, idleTtl: Double?)
        throws -> RoomStore.Settings {
        var settings = RoomStore.Settings()
        if let opensAt {
            guard let time = TextFields.time(opensAt) else {
                throw Problem.invalidRequest("'opensAt' must be an RFC 3339 time in the years 2000 to 9999, e.g. 2026-12-24T19:00:00Z.")
            }
            settings.opensAt = time
        }
        if let admitPerSecond {
            guard (1...100_000).contains(admitPerSecond) else { throw Problem.invalidRequest("'admitPerSecond' must be 1 to 100,000.") }
            settings.admitPerSecond = admitPerSecond
        }
        if let maxActive {
            guard (1...10_000_000).contains(maxActive) else { throw Problem.invalidRequest("'maxActive' must be 1 to 10,000,000.") }
            settings.maxActive = maxActive
        }
        if let activeTtl {
            guard (1...86_400).contains(activeTtl) else { throw Problem.invalidRequest("'activeTtl' must be 1 to 86,400 seconds.") }
            settings.activeTTL = activeTtl
        }
        if let idleTtl {
            guard (4...86_400).contains(idleTtl) else { throw Problem.invalidRequest("'idleTtl' must be 4 to 86,400 seconds.") }
            settings.idleTTL = idleTtl
        }
        return settings
    }

    static func problem(_ refusal: RoomStore.Refusal) -> Problem {
        switch refusal {
        case .unknownConcert(let id):
            return Problem(status: .notFound, code: "not_found", title: "Not found", detail: "No concert \(id).")
        case .concertInRoom(let concert, let room):
            return Problem(status: .conflict, code: "concert_in_room", title: "Concert in another room",
                           detail: "Concert \(concert) is already gated by room \(room).", extra: ["roomId": .int(room)])
        case .noRoom:
            return Problem.notFound
        case .notScheduled:
            return Problem.invalidRequest("'opensAt' can change only while the room is scheduled.")
        }
    }

    /// `Authorization: Bearer <ADMIN_KEY>`, compared by digest; unset `ADMIN_KEY` refuses everyone.
    private func authorize(_ request: Request) throws {
        guard let adminKey, let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              Secrets.sha256(String(header.dropFirst(7))) == Secrets.sha256(adminKey) else {
            throw Problem.unauthorized
        }
    }
}
