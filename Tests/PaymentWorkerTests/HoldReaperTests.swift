import Logging
@testable import PaymentWorker
import PostgresNIO
import Shared
import Testing
import TestSupport

@Suite("Hold reaper")
struct HoldReaperTests {
    @Test("lapsed holds are released and their reservations expired; live holds and sold seats stay")
    func releasesLapsedHolds() async throws {
        try await TestDatabase.withDatabase { db, _ in
            try await db.query("INSERT INTO users (name, api_key_hash) VALUES ('ada', sha256('k'))")
            try await db.query("INSERT INTO concerts (title, artist) VALUES ('t', 'a')")
            try await db.query("INSERT INTO schedules (concert_id, starts_at, price, total_seats) VALUES (1, now() + interval '1 day', 10, 3)")
            try await db.query("INSERT INTO seats (schedule_id, seat_no) SELECT 1, n FROM generate_series(1, 3) n")
            for (seat, offset) in [(1, "-1 minute"), (2, "5 minutes")] {
                try await db.query("""
                    WITH r AS (
                        INSERT INTO reservations (user_id, schedule_id, seat_no, status, price, hold_expires_at)
                        VALUES (1, 1, \(seat), 'held', 10, now() + \(offset)::interval) RETURNING id, hold_expires_at
                    )
                    UPDATE seats SET status = 'held', reservation_id = r.id, hold_expires_at = r.hold_expires_at
                    FROM r WHERE schedule_id = 1 AND seat_no = \(seat)
                    """)
            }
            let reaper = HoldReaper(client: db, every: .seconds(1), logger: Logger(label: "test.reaper"))
            #expect(try await reaper.sweep() == 1)
            #expect(try await reaper.sweep() == 0)
            #expect(try await db.scalar("SELECT status FROM seats WHERE seat_no = 1", as: String.self) == "available")
            #expect(try await db.scalar("SELECT status FROM seats WHERE seat_no = 2", as: String.self) == "held")
            #expect(try await db.scalar("SELECT status FROM reservations WHERE seat_no = 1", as: String.self) == "expired")
            #expect(try await db.scalar("SELECT status FROM reservations WHERE seat_no = 2", as: String.self) == "held")
        }
    }
}
