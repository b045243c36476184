import Foundation
import Hummingbird
import Shared

/// `POST /v1/admin/concerts`: creates a concert with its schedules and seats, for holders of `ADMIN_KEY`.
struct AdminController<Context: RequestContext> {
    let adminKey: String?
    let catalog: CatalogStore

    func addRoutes(to router: Router<Context>) {
        router.post(RouterPath(Routes.adminConcerts)) { request, _ in try await createConcert(request) }
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

    /// `Authorization: Bearer <ADMIN_KEY>`, compared by digest; unset `ADMIN_KEY` refuses everyone.
    private func authorize(_ request: Request) throws {
        guard let adminKey, let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              Secrets.sha256(String(header.dropFirst(7))) == Secrets.sha256(adminKey) else {
            throw Problem.unauthorized
        }
    }
}
