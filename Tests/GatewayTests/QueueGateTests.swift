import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresNIO
import Shared
import Testing
import TestSupport

@Suite("Queue gate and catalogue reads")
struct QueueGateTests {
    /// A concert with one future and one past schedule of 3 seats each; returns (concert, future schedule).
    static func seed(_ db: PostgresClient) async throws -> (Int64, Int64) {
        let concert = try #require(try await db.scalar("INSERT INTO concerts (title, artist) VALUES ('Gala', 'Orchestra') RETURNING id", as: Int64.self))
        let future = try #require(try await db.scalar("""
            INSERT INTO schedules (concert_id, starts_at, price, total_seats) VALUES (\(concert), now() + interval '30 days', 50000, 3) RETURNING id
            """, as: Int64.self))
        let past = try #require(try await db.scalar("""
            INSERT INTO schedules (concert_id, starts_at, price, total_seats) VALUES (\(concert), now() - interval '1 day', 50000, 3) RETURNING id
            """, as: Int64.self))
        for schedule in [future, past] {
            try await db.query("INSERT INTO seats (schedule_id, seat_no) SELECT \(schedule), n FROM generate_series(1, 3) n")
        }
        // Seat 2 held (live), seat 3 held but expired: shown as available.
        try await db.query("UPDATE seats SET status = 'held', hold_expires_at = now() + interval '5 minutes' WHERE schedule_id = \(future) AND seat_no = 2")
        try await db.query("UPDATE seats SET status = 'held', hold_expires_at = now() - interval '1 second' WHERE schedule_id = \(future) AND seat_no = 3")
        return (concert, future)
    }

    @Test("401 without or with a foreign token, 403 with queueStatus while waiting, 200 once active")
    func gate() async throws {
        try await TestGateway.run(["ADMIT_PER_SECOND": "5", "QUEUE_TICK": "0.2"]) { api, db in
            let (concert, schedule) = try await Self.seed(db)
            let ada = try await api.newUser("ada")
            let bob = try await api.newUser("bob")
            let adaToken = try #require(try await api.token(ada.key)["token"] as? String)
            let path = "/v1/concerts/\(concert)/schedules"
            ErrorPathTests.expectProblem(try await api.call(.get, path), 401, "unauthorized")
            ErrorPathTests.expectProblem(try await api.call(.get, path, key: ada.key), 401, "queue_token_invalid")
            ErrorPathTests.expectProblem(try await api.call(.get, path, key: bob.key, token: adaToken), 401, "queue_token_invalid")
            let waiting = try await api.call(.get, path, key: ada.key, token: adaToken)
            ErrorPathTests.expectProblem(waiting, 403, "queue_token_not_active")
            #expect(waiting["queueStatus"] as? String == "waiting")
            // Validation comes before the queue token: a bad id is 400 even while waiting.
            ErrorPathTests.expectProblem(try await api.call(.get, "/v1/concerts/abc/schedules", key: ada.key, token: adaToken), 400, "invalid_request")
            ErrorPathTests.expectProblem(try await api.call(.get, "/v1/schedules/0/seats", key: ada.key, token: adaToken), 400, "invalid_request")

            try await db.query("UPDATE queue_tokens SET status = 'active', activated_at = now(), expires_at = now() + interval '10 minutes' WHERE user_id = \(ada.id)")
            let schedules = try await api.call(.get, path, key: ada.key, token: adaToken)
            #expect(schedules.status == 200)
            let list = try #require(schedules["schedules"] as? [[String: Any]])
            #expect(list.count == 1)
            #expect(list.first?["id"] as? Int == Int(schedule))
            #expect(list.first?["availableSeats"] as? Int == 2)
            #expect(list.first?["totalSeats"] as? Int == 3)
            let seats = try await api.call(.get, "/v1/schedules/\(schedule)/seats", key: ada.key, token: adaToken)
            let map = try #require(seats["seats"] as? [[String: Any]])
            #expect(map.map { $0["status"] as? String } == ["available", "held", "available"])
            #expect(map.map { $0["seatNo"] as? Int } == [1, 2, 3])
            #expect(seats["scheduleId"] as? Int == Int(schedule))
            #expect(seats.headers[.contentType] == "application/json")
            ErrorPathTests.expectProblem(try await api.call(.get, "/v1/concerts/999999/schedules", key: ada.key, token: adaToken), 404, "not_found")
            ErrorPathTests.expectProblem(try await api.call(.get, "/v1/schedules/999999/seats", key: ada.key, token: adaToken), 404, "not_found")

            try await db.query("UPDATE queue_tokens SET expires_at = now() - interval '1 second' WHERE user_id = \(ada.id)")
            let expired = try await api.call(.get, path, key: ada.key, token: adaToken)
            ErrorPathTests.expectProblem(expired, 403, "queue_token_not_active")
            #expect(expired["queueStatus"] as? String == "expired")
            try await db.query("UPDATE queue_tokens SET status = 'done', ended_at = now() WHERE user_id = \(ada.id)")
            #expect(try await api.call(.get, path, key: ada.key, token: adaToken)["queueStatus"] as? String == "done")

            let concerts = try await api.call(.get, "/v1/concerts")
            #expect(concerts.status == 200)
            #expect((concerts["concerts"] as? [[String: Any]])?.first?["title"] as? String == "Gala")
        }
    }

    @Test("reserve and pay: the key, then the body, then the queue token (checked in the enqueue statement); refusals enqueue nothing")
    func writesAreGated() async throws {
        try await TestGateway.run(["ADMIT_PER_SECOND": "5", "QUEUE_TICK": "0.2"], paymentWorker: true) { api, db in
            let (_, schedule) = try await Self.seed(db)
            let ada = try await api.newUser("ada")
            let bob = try await api.newUser("bob")
            let adaToken = try #require(try await api.token(ada.key)["token"] as? String)
            for (path, body) in [("/v1/reservations", "{\"scheduleId\": \(schedule), \"seatNo\": 1}"), ("/v1/payments", #"{"reservationId": 1}"#)] {
                ErrorPathTests.expectProblem(try await api.call(.post, path, token: adaToken, body: body), 401, "unauthorized")
                ErrorPathTests.expectProblem(try await api.call(.post, path, key: "no-such-key", token: adaToken, body: body), 401, "unauthorized")
                ErrorPathTests.expectProblem(try await api.call(.post, path, key: ada.key, body: #"{"x": 1}"#), 400, "invalid_request")
                ErrorPathTests.expectProblem(try await api.call(.post, path, key: ada.key, body: body), 401, "queue_token_invalid")
                ErrorPathTests.expectProblem(try await api.call(.post, path, key: ada.key, token: "unknown", body: body), 401, "queue_token_invalid")
                ErrorPathTests.expectProblem(try await api.call(.post, path, key: bob.key, token: adaToken, body: body), 401, "queue_token_invalid")
                let waiting = try await api.call(.post, path, key: ada.key, token: adaToken, body: body)
                ErrorPathTests.expectProblem(waiting, 403, "queue_token_not_active")
                #expect(waiting["queueStatus"] as? String == "waiting")
            }
            #expect(try await db.scalar("SELECT count(*) FROM jobs", as: Int64.self) == 0)

            try await db.query("UPDATE queue_tokens SET status = 'active', activated_at = now(), expires_at = now() + interval '10 minutes' WHERE user_id = \(ada.id)")
            ErrorPathTests.expectProblem(try await api.call(.post, "/v1/reservations", key: bob.key, token: adaToken,
                                                            body: "{\"scheduleId\": \(schedule), \"seatNo\": 1}"), 401, "queue_token_invalid")
            #expect(try await db.scalar("SELECT count(*) FROM jobs", as: Int64.self) == 0)
            let replayable: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "seat-1"]
            let held = try await api.call(.post, "/v1/reservations", key: ada.key, token: adaToken,
                                          body: "{\"scheduleId\": \(schedule), \"seatNo\": 1}", headers: replayable)
            #expect(held.status == 201)
            #expect(try await db.scalar("SELECT count(*) FROM jobs WHERE kind = 'reserve_seat' AND user_id = \(ada.id)", as: Int64.self) == 1)
            // A replay that the gateway refuses before its enqueue (no queue token, another body) is
            // still answered as a replay; a new key with the same refusals is not.
            let noToken = try await api.call(.post, "/v1/reservations", key: ada.key,
                                             body: "{\"seatNo\": 1, \"scheduleId\": \(schedule)}", headers: replayable)
            #expect(noToken.status == 201 && noToken["reservationId"] as? Int == held["reservationId"] as? Int)
            for other in [#"{"x": 1}"#, "not json"] {
                ErrorPathTests.expectProblem(try await api.call(.post, "/v1/reservations", key: ada.key, token: adaToken, body: other,
                                                                headers: replayable), 409, "idempotency_conflict")
            }
            let fresh: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "seat-2"]
            ErrorPathTests.expectProblem(try await api.call(.post, "/v1/reservations", key: ada.key, token: adaToken, body: #"{"x": 1}"#,
                                                            headers: fresh), 400, "invalid_request")
            ErrorPathTests.expectProblem(try await api.call(.post, "/v1/reservations", key: ada.key,
                                                            body: "{\"scheduleId\": \(schedule), \"seatNo\": 2}", headers: fresh),
                                         401, "queue_token_invalid")
            #expect(try await db.scalar("SELECT count(*) FROM jobs", as: Int64.self) == 1)

            // Each way a token stops being active, as the gate inside the enqueue sees it — including
            // the two the queue worker has not marked yet (past ACTIVE_TTL; waiting and idle past its TTL).
            let states = [
                ("UPDATE queue_tokens SET expires_at = now() - interval '1 second' WHERE user_id = \(ada.id)", "expired"),
                ("UPDATE queue_tokens SET status = 'done', ended_at = now() WHERE user_id = \(ada.id)", "done"),
                ("UPDATE queue_tokens SET status = 'waiting', activated_at = NULL, expires_at = NULL, ended_at = NULL WHERE user_id = \(ada.id)", "waiting"),
                ("UPDATE queue_tokens SET last_seen_at = now() - interval '1 hour' WHERE user_id = \(ada.id)", "expired"),
            ]
            for (change, status) in states {
                try await db.query(PostgresQuery(unsafeSQL: change))
                for (path, body) in [("/v1/reservations", "{\"scheduleId\": \(schedule), \"seatNo\": 2}"), ("/v1/payments", #"{"reservationId": 1}"#)] {
                    let refused = try await api.call(.post, path, key: ada.key, token: adaToken, body: body)
                    ErrorPathTests.expectProblem(refused, 403, "queue_token_not_active")
                    #expect(refused["queueStatus"] as? String == status, "\(change)")
                }
                // A replay of an earlier request is answered before the token is checked (docs/api.md's order).
                let replay = try await api.call(.post, "/v1/reservations", key: ada.key, token: adaToken,
                                                body: "{\"scheduleId\": \(schedule), \"seatNo\": 1}", headers: replayable)
                #expect(replay.status == 201 && replay["reservationId"] as? Int == held["reservationId"] as? Int)
            }
            #expect(try await db.scalar("SELECT count(*) FROM jobs", as: Int64.self) == 1)
        }
    }
}
