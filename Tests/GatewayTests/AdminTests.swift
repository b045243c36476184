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
                #"{"title": "t", "artist": "a", "schedules": [{"startsAt": "2030-12-24T19:00:00Z", "price": 1000000001}]}"#,
                // Times outside the years 2000–9999 are bad input (a fuzzer found 0996-…-06:22 answered 503).
                #"{"title": "t", "artist": "a", "schedules": [{"startsAt": "0996-01-01T00:00:00-06:22", "price": 1}]}"#,
                #"{"title": "t", "artist": "a", "schedules": [{"startsAt": "1999-12-31T23:59:59Z", "price": 1}]}"#,
                #"{"title": "t", "artist": "a", "schedules": [{"startsAt": "10000-01-01T00:00:00Z", "price": 1}]}"#,
                #"{"title": "t", "artist": "a", "schedules": [{"startsAt": "+2030-12-24T19:00:00Z", "price": 1}]}"#,
                // A date that does not exist (the parser alone rolled it into March), a bad offset.
                #"{"title": "t", "artist": "a", "schedules": [{"startsAt": "2030-02-30T19:00:00Z", "price": 1}]}"#,
                #"{"title": "t", "artist": "a", "schedules": [{"startsAt": "2030-02-10T19:00:00+24:00", "price": 1}]}"#,
                // U+0000, which PostgreSQL refuses in text, answered 503 before.
                #"{"title": "t\u0000", "artist": "a", "schedules": [{"startsAt": "2030-12-24T19:00:00Z", "price": 1}]}"#,
                #"{"title": "t", "artist": "a\u0007", "schedules": [{"startsAt": "2030-12-24T19:00:00Z", "price": 1}]}"#,
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
            // The instant honours the offset: 19:00 at +09:00 is 10:00 UTC; -05:30 moves it the other way.
            for (startsAt, utc) in [("2030-12-24T19:00:00+09:00", "2030-12-24T10:00:00Z"), ("2030-12-31T20:00:00-05:30", "2031-01-01T01:30:00Z")] {
                let body = #"{"title": "t", "artist": "a", "schedules": [{"startsAt": "\#(startsAt)", "price": 1, "seats": 1}]}"#
                let reply = try await api.call(.post, "/v1/admin/concerts", body: body, headers: admin)
                #expect((reply["schedules"] as? [[String: Any]])?.first?["startsAt"] as? String == utc, "\(reply.json)")
            }
            // The ends of the range, and an offset, are fine (7808 once answered 503).
            for startsAt in ["2000-01-01T00:00:00Z", "7808-05-01T10:00:00Z", "9999-12-31T23:59:59Z", "2030-12-24T19:00:00+09:00",
                             "2032-02-29t19:00:00.25z", "2556-08-26T04:35:21.979243+23:20"] {
                let body = #"{"title": "t", "artist": "a", "schedules": [{"startsAt": "\#(startsAt)", "price": 1, "seats": 1}]}"#
                let reply = try await api.call(.post, "/v1/admin/concerts", body: body, headers: admin)
                #expect(reply.status == 201, "\(startsAt): \(reply.json)")
            }
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
