import Foundation
import Logging
import PostgresNIO
import Testing
import TestSupport

/// `stagedoor_reserve_seats` decides a whole batch in a few statements; its answers must be those
/// of running the batch's jobs one after another.
@Suite("Reserving a batch of seats: the answers of running its jobs one by one")
struct ReserveSeatsFunctionTests {
    typealias Job = (user: Int64, schedule: Int64, seat: Int)

    /// Users 1–3; schedule 1 with seats 1–10 at price 10.
    static func seed(_ db: PostgresClient) async throws {
        try await db.query("INSERT INTO users (name, api_key_hash) SELECT 'u' || n, sha256(('k' || n)::bytea) FROM generate_series(1, 3) n")
        try await db.query("INSERT INTO concerts (title, artist) VALUES ('t', 'a')")
        try await db.query("INSERT INTO schedules (concert_id, starts_at, price, total_seats) VALUES (1, now() + interval '1 day', 10, 10)")
        try await db.query("INSERT INTO seats (schedule_id, seat_no) SELECT 1, n FROM generate_series(1, 10) n")
    }

    /// A hold on `seat` for `user`, ending `offset` from now (negative: lapsed, not yet reaped).
    static func hold(_ db: PostgresClient, user: Int64, seat: Int, offset: String) async throws {
        try await db.query("""
            WITH r AS (
                INSERT INTO reservations (user_id, schedule_id, seat_no, status, price, hold_expires_at)
                VALUES (\(user), 1, \(seat), 'held', 10, now() + \(offset)::interval) RETURNING id, hold_expires_at
            )
            UPDATE seats SET status = 'held', reservation_id = r.id, hold_expires_at = r.hold_expires_at
            FROM r WHERE schedule_id = 1 AND seat_no = \(seat)
            """)
    }

    /// Each job's outcome and reservation id, in order.
    static func reserve(_ db: PostgresClient, _ jobs: [Job]) async throws -> [(outcome: String, reservation: Int64?)] {
        let rows = try await db.query("""
            SELECT outcome, reservation_id FROM stagedoor_reserve_seats(
                \(jobs.map(\.user))::bigint[], \(jobs.map(\.schedule))::bigint[], \(jobs.map(\.seat))::int[], 600, 4)
            ORDER BY n
            """)
        return try await rows.decode((String, Int64?).self).reduce(into: []) { $0.append(($1.0, $1.1)) }
    }

    @Test("holds, refusals, the hold limit, seats taken earlier in the batch and lapsed holds, decided in order")
    func decidesInOrder() async throws {
        try await TestDatabase.withDatabase { db, _ in
            try await Self.seed(db)
            try await db.query("UPDATE seats SET status = 'sold' WHERE seat_no = 9")
            try await Self.hold(db, user: 3, seat: 8, offset: "-1 minute")
            for seat in 5...7 { try await Self.hold(db, user: 3, seat: seat, offset: "5 minutes") }
            let lapsed = try await db.scalar("SELECT id FROM reservations WHERE seat_no = 8", as: Int64.self)

            let jobs: [Job] = [
                (1, 1, 1), (1, 1, 2), (2, 1, 2), (1, 1, 3), (1, 1, 11), (1, 999, 1), (1, 1, 4), (1, 1, 5),
                (2, 1, 9), (2, 1, 7), (2, 1, 8), (2, 1, 8), (3, 1, 10), (3, 1, 9),
            ]
            let answers = try await Self.reserve(db, jobs)
            #expect(answers.map(\.outcome) == [
                "held", "held", "seat_unavailable", "held", "invalid_seat", "not_found", "held", "already_reserved",
                "seat_unavailable", "seat_unavailable", "held", "seat_unavailable", "held", "already_reserved",
            ])
            // Every hold is a reservation of its user on its seat, and the seat points at it.
            for (job, answer) in zip(jobs, answers) where answer.outcome == "held" {
                let id = try #require(answer.reservation)
                #expect(try await db.scalar("""
                    SELECT count(*) FROM reservations r JOIN seats s ON s.reservation_id = r.id AND s.status = 'held'
                    WHERE r.id = \(id) AND r.user_id = \(job.user) AND r.seat_no = \(job.seat) AND s.seat_no = \(job.seat) AND r.status = 'held'
                    """, as: Int64.self) == 1)
            }
            #expect(answers.filter { $0.outcome != "held" }.allSatisfy { $0.reservation == nil })
            #expect(try await db.scalar("SELECT status FROM reservations WHERE id = \(lapsed)", as: String.self) == "expired")
            #expect(try await db.scalar("SELECT count(*) FROM reservations WHERE status = 'held'", as: Int64.self) == 3 + 6)
            #expect(try await db.column("SELECT seat_no FROM seats WHERE status = 'available' ORDER BY seat_no", as: Int.self) == [])
        }
    }

    @Test("a granted seat another transaction takes meanwhile is seat_unavailable; if that hold refused another for the limit, the batch raises and changes nothing")
    func seatTakenMeanwhile() async throws {
        try await TestDatabase.withDatabase { db, _ in
            try await Self.seed(db)
            for seat in 1...3 { try await Self.hold(db, user: 1, seat: seat, offset: "5 minutes") }

            /// Sells `seat` in another transaction that commits only once `jobs` are waiting for its row lock.
            func whileSeatIsSold(_ seat: Int, _ jobs: [Job]) async throws -> Result<[(outcome: String, reservation: Int64?)], any Error> {
                try await db.withConnection { other in
                    try await other.query("BEGIN", logger: Logger(label: "test"))
                    try await other.query("UPDATE seats SET status = 'sold' WHERE schedule_id = 1 AND seat_no = \(seat)", logger: Logger(label: "test"))
                    return try await withThrowingTaskGroup(of: Result<[(outcome: String, reservation: Int64?)], any Error>?.self) { group in
                        group.addTask { await Result(catching: { try await Self.reserve(db, jobs) }) }
                        group.addTask {
                            #expect(await eventually(timeout: .seconds(30)) {
                                (try? await db.scalar("""
                                    SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                                      AND wait_event_type = 'Lock' AND query LIKE '%stagedoor_reserve_seats%'
                                    """, as: Int64.self)) == 1
                            })
                            try await other.query("COMMIT", logger: Logger(label: "test"))
                            return nil
                        }
                        var answer: Result<[(outcome: String, reservation: Int64?)], any Error>?
                        for try await result in group { if let result { answer = result } }
                        return try #require(answer)
                    }
                }
            }

            // User 2 has no holds: seat 4 is granted, then found sold by the arbiter.
            let plain = try await whileSeatIsSold(4, [(2, 1, 4), (2, 1, 5)]).get()
            #expect(plain.map(\.outcome) == ["seat_unavailable", "held"])

            // User 1 has three: the granted seat 6 made the next job a fourth, refused for the limit.
            let raced = try await whileSeatIsSold(6, [(1, 1, 6), (1, 1, 7)])
            let error = try #require(raced.failure as? PSQLError)
            #expect(error.serverInfo?[.sqlState] == "40001")
            #expect(try await db.scalar("SELECT count(*) FROM reservations WHERE seat_no = 7", as: Int64.self) == 0)
            #expect(try await db.scalar("SELECT status FROM seats WHERE seat_no = 7", as: String.self) == "available")
            // One job at a time, as the runner reruns it: the refusal was not owed.
            #expect(try await Self.reserve(db, [(1, 1, 6)]).map(\.outcome) == ["seat_unavailable"])
            #expect(try await Self.reserve(db, [(1, 1, 7)]).map(\.outcome) == ["held"])
        }
    }

    @Test("the users and seats that reservations name are never deleted or renumbered; their other columns change as before (sql/014)")
    func namedRowsKept() async throws {
        try await TestDatabase.withDatabase { db, _ in
            try await Self.seed(db)
            #expect(try await Self.reserve(db, [(1, 1, 1)]).map(\.outcome) == ["held"])
            // 23001 restrict_violation from stagedoor_refuse_losing_rows' triggers; 428C9 for an identity column.
            for (statement, code): (PostgresQuery, String) in [
                ("DELETE FROM seats WHERE seat_no = 10", "23001"), ("TRUNCATE seats CASCADE", "23001"),
                ("UPDATE seats SET seat_no = 11 WHERE seat_no = 10", "23001"), ("UPDATE seats SET schedule_id = 2", "23001"),
                ("DELETE FROM users WHERE id = 3", "23001"), ("TRUNCATE users CASCADE", "23001"),
                ("UPDATE users SET id = 9 WHERE id = 3", "428C9"),
            ] {
                let error = await #expect(throws: PSQLError.self, "\(statement.sql)") { try await db.query(statement) }
                #expect(error?.serverInfo?[.sqlState] == code, "\(statement.sql)")
            }
            #expect(try await db.scalar("SELECT count(*) FROM seats", as: Int64.self) == 10)
            #expect(try await db.scalar("SELECT count(*) FROM users", as: Int64.self) == 3)
            #expect(try await db.column("SELECT seat_no FROM seats ORDER BY seat_no", as: Int.self) == Array(1...10))
            // Other columns change as before.
            try await db.query("UPDATE seats SET status = 'sold', hold_expires_at = NULL WHERE seat_no = 1")
            try await db.query("UPDATE users SET name = 'renamed' WHERE id = 3")
            #expect(try await db.scalar("SELECT status FROM seats WHERE seat_no = 1", as: String.self) == "sold")
            #expect(try await db.scalar("SELECT name FROM users WHERE id = 3", as: String.self) == "renamed")
        }
    }
}

extension Result {
    init(catching body: () async throws(Failure) -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }

    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
