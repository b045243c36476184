import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresNIO
import Shared
import Testing
import TestSupport

@Suite("Admin: concerts")
struct AdminTests {
    static let concert = #"{"title": "Winter Gala", "artist": "Orchestra", "schedules": [{"startsAt": "2030-12-24T19:00:00Z", "price": 50000}, {"startsAt": "2030-12-25T19:00:00Z", "price": 70000, "seats": 3}]}"#

    @Test("creates a concert with its schedules and seats; the admin key is required")
    func create() async throws {
        try await TestGateway.run(["ADMIN_KEY": "sesame"]) { api, db in
            let admin: HTTPFields = [.authorization: "Bearer sesame"]
            ErrorPathTests.expectProblem(try await api.call(.post, "/v1/admin/concerts", body: Self.concert), 401, "unauthorized")
            ErrorPathTests.expectProblem(try await api.call(.post, "/v1/admin/concerts", body: Self.concert, headers: [.authorization: "Bearer nope"]), 401, "unauthorized")
            let invalid = [
                #"{"title": "", "artist": "a", "schedules": [{"startsAt": "2030-12-24T19:00:00Z", "price": 1}]}"#,
                #"{"title": "t", "artist": "a", "schedules": []}"#,
                #"{"title": "t", "artist": "a", "schedules": [{"startsAt": "tomorrow", "price": 1}]}"#,
                #"{"title": "t", "artist": "a", "schedules": [{"startsAt": "2030-12-24T19:00:00Z", "price": -1}]}"#,
                #"{"title": "t", "artist": "a", "schedules": [{"startsAt": "2030-12-24T19:00:00Z", "price": 1, "seats": 0}]}"#,
                #"{"title": "t", "artist": "a", "schedules": [{"startsAt": "2030-12-24T19:00:00Z", "price": 1, "seats": 1001}]}"#,
                #"{"title": "t", "artist": "a", "schedules": [{"startsAt": "2030-12-24T19:00:00Z", "price": 1.5}]}"#,
            ]
            for body in invalid {
                ErrorPathTests.expectProblem(try await api.call(.post, "/v1/admin/concerts", body: body, headers: admin), 400, "invalid_request")
            }
            #expect(try await db.scalar("SELECT count(*) FROM concerts", as: Int64.self) == 0)
            let created = try await api.call(.post, "/v1/admin/concerts", body: Self.concert, headers: admin)
            #expect(created.status == 201)
            #expect(created["title"] as? String == "Winter Gala")
            let schedules = try #require(created["schedules"] as? [[String: Any]])
            #expect(schedules.map { $0["totalSeats"] as? Int } == [50, 3])
            #expect(schedules.first?["startsAt"] as? String == "2030-12-24T19:00:00Z")
            #expect(try await db.scalar("SELECT count(*) FROM seats", as: Int64.self) == 53)
            let list = try await api.call(.get, "/v1/concerts")
            #expect((list["concerts"] as? [[String: Any]])?.count == 1)
        }
    }

    @Test("with ADMIN_KEY unset, admin endpoints refuse everyone")
    func unsetKey() async throws {
        try await TestGateway.run { api, _ in
            let reply = try await api.call(.post, "/v1/admin/concerts", body: Self.concert, headers: [.authorization: "Bearer "])
            ErrorPathTests.expectProblem(reply, 401, "unauthorized")
        }
    }
}
