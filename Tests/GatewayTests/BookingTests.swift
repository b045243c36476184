import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import PostgresNIO
@testable import Gateway
@testable import PaymentWorker
import Shared
import Testing
import TestSupport

@Suite("Booking: holds and payments as jobs under row locks")
struct BookingTests {
    /// A concert with one schedule of `seats` seats priced `price`; returns the schedule id.
    static func schedule(_ db: PostgresClient, seats: Int = 50, price: Int64 = 50_000) async throws -> Int64 {
        let concert = try #require(try await db.scalar("INSERT INTO concerts (title, artist) VALUES ('Gala', 'Band') RETURNING id", as: Int64.self))
        let schedule = try #require(try await db.scalar("""
            INSERT INTO schedules (concert_id, starts_at, price, total_seats) VALUES (\(concert), now() + interval '30 days', \(price), \(seats)) RETURNING id
            """, as: Int64.self))
        try await db.query("INSERT INTO seats (schedule_id, seat_no) SELECT \(schedule), n FROM generate_series(1, \(seats)) n")
        return schedule
    }

    /// `count` users with API keys `key<n>` and active tokens `tok<n>`, made directly in the database.
    static func activeUsers(_ db: PostgresClient, count: Int) async throws -> [(id: Int64, key: String, token: String)] {
        try await db.query("INSERT INTO users (name, api_key_hash) SELECT 'u' || n, sha256(('key' || n)::bytea) FROM generate_series(1, \(count)) n")
        try await db.query("INSERT INTO wallets (user_id) SELECT id FROM users WHERE name LIKE 'u%'")
        try await db.query("""
            INSERT INTO queue_tokens (user_id, token_hash, salt, status, activated_at, expires_at)
            SELECT id, sha256(('tok' || substr(name, 2))::bytea), '\\x00000000000000000000000000000000'::bytea, 'active', now(), now() + interval '10 minutes'
            FROM users WHERE name LIKE 'u%'
            """)
        var users: [(Int64, String, String)] = []
        for try await (id, name) in try await db.query("SELECT id, name FROM users WHERE name LIKE 'u%' ORDER BY id").decode((Int64, String).self) {
            let n = name.dropFirst()
            users.append((id, "key\(n)", "tok\(n)"))
        }
        return users
    }

    @Test("the whole journey: token → active → dates → seats → hold → 402 → charge → pay → token done → history")
    func journey() async throws {
        try await TestGateway.run(["ADMIT_PER_SECOND": "10", "QUEUE_TICK": "0.1"], admission: true, paymentWorker: true) { api, db in
            let scheduleID = try await Self.schedule(db)
            let concertID = try #require(try await db.scalar("SELECT concert_id FROM schedules WHERE id = \(scheduleID)", as: Int64.self))
            let user = try await api.newUser("ada")
            let token = try #require(try await api.token(user.key)["token"] as? String)
            #expect(try await eventually {
                try await api.call(.get, "/v1/queue/tokens/current", key: user.key, token: token)["status"] as? String == "active"
            })
            let dates = try await api.call(.get, "/v1/concerts/\(concertID)/schedules", key: user.key, token: token)
            #expect((dates["schedules"] as? [[String: Any]])?.first?["availableSeats"] as? Int == 50)
            let hold = try await api.call(.post, "/v1/reservations", key: user.key, token: token, body: "{\"scheduleId\": \(scheduleID), \"seatNo\": 7}")
            #expect(hold.status == 201)
            #expect(hold["status"] as? String == "held")
            let reservationID = try #require(hold["reservationId"] as? Int)
            let seats = try await api.call(.get, "/v1/schedules/\(scheduleID)/seats", key: user.key, token: token)
            #expect((seats["seats"] as? [[String: Any]])?[6]["status"] as? String == "held")
            let poor = try await api.call(.post, "/v1/payments", key: user.key, token: token, body: "{\"reservationId\": \(reservationID)}")
            ErrorPathTests.expectProblem(poor, 402, "insufficient_points")
            #expect(poor["balance"] as? Int == 0)
            #expect(poor["required"] as? Int == 50_000)
            #expect(try await api.call(.post, "/v1/points/charge", key: user.key, body: #"{"amount": 60000}"#).status == 200)
            let paid = try await api.call(.post, "/v1/payments", key: user.key, token: token, body: "{\"reservationId\": \(reservationID)}")
            #expect(paid.status == 201)
            #expect(paid["status"] as? String == "paid")
            #expect(paid["amount"] as? Int == 50_000)
            #expect(paid["balance"] as? Int == 10_000)
            #expect(try await api.call(.get, "/v1/queue/tokens/current", key: user.key, token: token)["status"] as? String == "done")
            let history = try await db.query("SELECT kind, amount, balance_after FROM point_history WHERE user_id = \(user.id) ORDER BY id")
            var entries: [String] = []
            for try await (kind, amount, after) in history.decode((String, Int64, Int64).self) { entries.append("\(kind) \(amount) \(after)") }
            #expect(entries == ["charge 60000 60000", "payment 50000 10000"])
            let mine = try await api.call(.get, "/v1/reservations", key: user.key)
            #expect((mine["reservations"] as? [[String: Any]])?.first?["status"] as? String == "paid")
            #expect(try await db.scalar("SELECT status FROM seats WHERE schedule_id = \(scheduleID) AND seat_no = 7", as: String.self) == "sold")
        }
    }

    @Test("1,000 concurrent reservations of one seat: exactly one hold, 999 seat_unavailable")
    func hotSeat() async throws {
        try await TestGateway.run(["REPLY_TIMEOUT": "60", "WORKER_BATCH": "32"], paymentWorker: true) { api, db in
            let scheduleID = try await Self.schedule(db)
            let users = try await Self.activeUsers(db, count: 1000)
            let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for user in users {
                    group.addTask {
                        try await api.call(.post, "/v1/reservations", key: user.key, token: user.token, body: "{\"scheduleId\": \(scheduleID), \"seatNo\": 1}")
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.filter { $0.status == 201 }.count == 1)
            #expect(replies.filter { $0.code == "seat_unavailable" }.count == 999)
            #expect(try await db.scalar("SELECT count(*) FROM reservations", as: Int64.self) == 1)
        }
    }

    @Test("a seat the enqueue sees taken is refused there with the worker's own 409, as a finished job; anything the worker would answer otherwise is queued")
    func refusedAtEnqueue() async throws {
        // No payment worker: whatever is answered at once was answered by the enqueue.
        try await TestGateway.run(["REPLY_TIMEOUT": "0.3"]) { api, db in
            let scheduleID = try await Self.schedule(db, seats: 10)
            let users = try await Self.activeUsers(db, count: 2)
            let (ada, bob) = (users[0], users[1])
            // Seat 1 sold; 2 held by a live hold; 3 held by a lapsed hold; 4 free. Ada holds 5–8 (the limit).
            try await db.query("UPDATE seats SET status = 'sold' WHERE schedule_id = \(scheduleID) AND seat_no = 1")
            try await db.query("""
                UPDATE seats SET status = 'held', hold_expires_at = now() + CASE seat_no WHEN 3 THEN interval '-1 minute' ELSE interval '5 minutes' END
                WHERE schedule_id = \(scheduleID) AND seat_no IN (2, 3, 5, 6, 7, 8)
                """)
            try await db.query("""
                INSERT INTO reservations (user_id, schedule_id, seat_no, status, price, hold_expires_at)
                SELECT \(ada.id), \(scheduleID), n, 'held', 50000, now() + interval '5 minutes' FROM generate_series(5, 8) n
                """)
            func reserve(_ user: (id: Int64, key: String, token: String), _ seat: Int, key: String? = nil) async throws -> Reply {
                try await api.call(.post, "/v1/reservations", key: user.key, token: user.token, body: "{\"scheduleId\": \(scheduleID), \"seatNo\": \(seat)}",
                                   headers: key.map { [HTTPField.Name("Idempotency-Key")!: $0] } ?? [:])
            }

            for seat in [1, 2] {
                let refused = try await reserve(bob, seat, key: "k\(seat)")
                ErrorPathTests.expectProblem(refused, 409, "seat_unavailable")
                #expect(refused.headers[.contentType] == "application/problem+json")
                // A replay of the key: the same answer from the stored job.
                let replay = try await reserve(bob, seat, key: "k\(seat)")
                #expect(replay.status == 409 && replay.text == refused.text)
            }
            let stored = try await db.query("""
                SELECT state, attempts, response_status, finished_at IS NOT NULL FROM jobs WHERE user_id = \(bob.id) ORDER BY id
                """).decode((String, Int, Int?, Bool).self).reduce(into: []) { $0.append("\($1.0) \($1.1) \($1.2 ?? 0) \($1.3)") }
            #expect(stored == ["succeeded 0 409 true", "succeeded 0 409 true"])

            // What the worker must decide: a lapsed hold, a free seat, a taken seat of a user at the
            // hold limit (the worker answers already_reserved first). Queued, so 202 here.
            for (user, seat) in [(bob, 3), (bob, 4), (ada, 1)] {
                #expect(try await reserve(user, seat).status == 202, "seat \(seat)")
            }
            #expect(try await db.scalar("SELECT count(*) FROM jobs WHERE state = 'queued'", as: Int64.self) == 3)
            #expect(try await db.scalar("SELECT count(*) FROM reservations", as: Int64.self) == 4)
            #expect(try await db.scalar("SELECT status FROM seats WHERE schedule_id = \(scheduleID) AND seat_no = 3", as: String.self) == "held")

            // The worker's refusal of the same seat, from a job that skipped the enqueue's check.
            let payload = #"{"userId": \#(bob.id), "scheduleId": \#(scheduleID), "seatNo": 2}"#
            let workerJob = try #require(try await db.scalar(
                "INSERT INTO jobs (kind, payload, user_id) VALUES ('reserve_seat', \(payload)::jsonb, \(bob.id)) RETURNING id", as: Int64.self))
            try await db.query("DELETE FROM jobs WHERE state = 'queued' AND id <> \(workerJob)")
            let runner = JobRunner(client: db, handlers: [ReserveSeatHandler(holdTTL: .seconds(300))], batchSize: 8, logger: Logger(label: "test.payment"))
            #expect(try await runner.runBatch() == 1)
            #expect(try await db.scalar("SELECT state FROM jobs WHERE id = \(workerJob)", as: String.self) == "succeeded")
            let workerBody = try await db.scalar("SELECT response_body::text FROM jobs WHERE id = \(workerJob)", as: String.self)
            let enqueueBody = try await db.scalar(
                "SELECT response_body::text FROM jobs WHERE user_id = \(bob.id) AND idempotency_key = 'k2'", as: String.self)
            #expect(workerBody != nil && workerBody == enqueueBody)
        }
    }

    @Test("200 concurrent payments of one reservation: one debit, one payment row")
    func concurrentPayments() async throws {
        try await TestGateway.run(["REPLY_TIMEOUT": "60"], paymentWorker: true) { api, db in
            let scheduleID = try await Self.schedule(db, price: 1000)
            let user = try #require(try await Self.activeUsers(db, count: 1).first)
            try await db.query("UPDATE wallets SET balance = 100000 WHERE user_id = \(user.id)")
            let hold = try await api.call(.post, "/v1/reservations", key: user.key, token: user.token, body: "{\"scheduleId\": \(scheduleID), \"seatNo\": 3}")
            let reservationID = try #require(hold["reservationId"] as? Int)
            let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for _ in 0..<200 {
                    group.addTask {
                        try await api.call(.post, "/v1/payments", key: user.key, token: user.token, body: "{\"reservationId\": \(reservationID)}")
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.filter { $0.status == 201 }.count == 1)
            // The rest: already paid, or turned away at the gate once the token was done.
            #expect(replies.allSatisfy { $0.status == 201 || $0.code == "already_paid" || $0.code == "queue_token_not_active" })
            #expect(try await db.scalar("SELECT count(*) FROM payments", as: Int64.self) == 1)
            #expect(try await db.scalar("SELECT balance FROM wallets WHERE user_id = \(user.id)", as: Int64.self) == 99_000)
            #expect(try await db.scalar("SELECT count(*) FROM point_history WHERE kind = 'payment'", as: Int64.self) == 1)
        }
    }

    @Test("an expired hold frees the seat and paying it is 410 with the balance untouched; cancel, limits, foreign ids")
    func holdsAndCancel() async throws {
        try await TestGateway.run(paymentWorker: true) { api, db in
            let scheduleID = try await Self.schedule(db, price: 10)
            let users = try await Self.activeUsers(db, count: 2)
            let (ada, bob) = (users[0], users[1])
            try await db.query("UPDATE wallets SET balance = 1000")
            func reserve(_ user: (id: Int64, key: String, token: String), _ seat: Int) async throws -> Reply {
                try await api.call(.post, "/v1/reservations", key: user.key, token: user.token, body: "{\"scheduleId\": \(scheduleID), \"seatNo\": \(seat)}")
            }
            let first = try await reserve(ada, 1)
            let firstID = try #require(first["reservationId"] as? Int)
            ErrorPathTests.expectProblem(try await reserve(bob, 1), 409, "seat_unavailable")
            // The hold runs out (set back in time rather than waited for: the suite runs under load).
            try await db.query("UPDATE reservations SET hold_expires_at = now() - interval '1 second' WHERE id = \(firstID)")
            try await db.query("UPDATE seats SET hold_expires_at = now() - interval '1 second' WHERE schedule_id = \(scheduleID) AND seat_no = 1")
            let late = try await api.call(.post, "/v1/payments", key: ada.key, token: ada.token, body: "{\"reservationId\": \(firstID)}")
            ErrorPathTests.expectProblem(late, 410, "hold_expired")
            #expect(try await db.scalar("SELECT balance FROM wallets WHERE user_id = \(ada.id)", as: Int64.self) == 1000)
            #expect(try await reserve(bob, 1).status == 201)  // the expired hold counts as available

            // Cancel: seat free again; cancelling twice answers the same; paying it is 410; others see 404.
            let held = try await reserve(ada, 2)
            let heldID = try #require(held["reservationId"] as? Int)
            ErrorPathTests.expectProblem(try await api.call(.delete, "/v1/reservations/\(heldID)", key: bob.key), 404, "not_found")
            ErrorPathTests.expectProblem(try await api.call(.post, "/v1/payments", key: bob.key, token: bob.token, body: "{\"reservationId\": \(heldID)}"), 404, "not_found")
            let cancelled = try await api.call(.delete, "/v1/reservations/\(heldID)", key: ada.key)
            #expect(cancelled.status == 200)
            #expect(cancelled["status"] as? String == "cancelled")
            #expect(try await api.call(.delete, "/v1/reservations/\(heldID)", key: ada.key)["status"] as? String == "cancelled")
            ErrorPathTests.expectProblem(try await api.call(.post, "/v1/payments", key: ada.key, token: ada.token, body: "{\"reservationId\": \(heldID)}"), 410, "hold_expired")
            #expect(try await db.scalar("SELECT status FROM seats WHERE schedule_id = \(scheduleID) AND seat_no = 2", as: String.self) == "available")

            // Four live holds per schedule, then already_reserved before the seat is looked at.
            for seat in 10...13 { #expect(try await reserve(ada, seat).status == 201) }
            ErrorPathTests.expectProblem(try await reserve(ada, 1), 409, "already_reserved")
            ErrorPathTests.expectProblem(try await reserve(ada, 51), 400, "invalid_request")
            ErrorPathTests.expectProblem(try await api.call(.post, "/v1/reservations", key: ada.key, token: ada.token, body: #"{"scheduleId": 999999, "seatNo": 1}"#), 404, "not_found")
            ErrorPathTests.expectProblem(try await api.call(.post, "/v1/reservations", key: ada.key, token: ada.token, body: #"{"scheduleId": "x", "seatNo": 1}"#), 400, "invalid_request")
        }
    }
}
