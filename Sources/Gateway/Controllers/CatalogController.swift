import Hummingbird
import Shared

/// Concerts (public), and — behind the queue gate — bookable schedules and seat maps.
struct CatalogController<Context: RequestContext> {
    let auth: Authenticator
    let gate: QueueGate
    let catalog: CatalogStore

    func addRoutes(to router: Router<Context>) {
        router.get(RouterPath(Routes.concerts)) { _, _ in try await concerts() }
        router.get(RouterPath(Routes.concertSchedules)) { request, context in try await schedules(request, context) }
        router.get(RouterPath(Routes.scheduleSeats)) { request, context in try await seats(request, context) }
    }

    struct ConcertList: Encodable { let concerts: [CatalogStore.Concert] }
    struct ScheduleList: Encodable { let schedules: [CatalogStore.Schedule] }

    func concerts() async throws -> Response {
        try JSONBody.response(ConcertList(concerts: try await catalog.concerts()))
    }

    func schedules(_ request: Request, _ context: Context) async throws -> Response {
        let caller = try await auth.authenticate(request)
        let concertID = try PathID.parse("concertId", from: context)
        let token = try await gate.requireActive(request, userID: caller.userID)
        guard let found = try await catalog.schedules(concertID: concertID) else { throw Problem.notFound }
        try QueueGate.requireRoom(found.roomID, of: token)
        return try JSONBody.response(ScheduleList(schedules: found.schedules))
    }

    func seats(_ request: Request, _ context: Context) async throws -> Response {
        let caller = try await auth.authenticate(request)
        let scheduleID = try PathID.parse("scheduleId", from: context)
        let token = try await gate.requireActive(request, userID: caller.userID)
        guard let map = try await catalog.seatMapJSON(scheduleID: scheduleID) else { throw Problem.notFound }
        try QueueGate.requireRoom(map.roomID, of: token)
        return JSONBody.response(json: map.json)
    }
}
