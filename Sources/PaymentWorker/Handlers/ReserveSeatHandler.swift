import Foundation
import Logging
import PostgresNIO
import Shared

/// `reserve_seat`: one conditional UPDATE of the seat row is the arbiter — of any number of
/// concurrent requests for a seat, exactly one holds it. At most four live holds per user and schedule.
struct ReserveSeatHandler: JobHandler {
    let kind = JobKind.reserveSeat
    let holdTTL: Duration

    struct Created: Encodable {
        let reservationId: Int64; let scheduleId: Int64; let seatNo: Int; let status: String; let price: Int64; let holdExpiresAt: Date
    }

    /// Reservations in a batch lock their seats in seat order.
    func lockOrder(_ job: ClaimedJob) -> String? {
        (try? job.decodePayload(ReserveSeatPayload.self)).map { lockKey("seat", $0.scheduleId, Int64($0.seatNo)) }
    }

    func run(_ job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> JobOutcome {
        let p = try job.decodePayload(ReserveSeatPayload.self)
        // One user's reservations in one schedule are decided one at a time, so the limit holds: the
        // lock is taken in this statement, before the next one counts.
        let holdsKey = "holds:\(p.userId):\(p.scheduleId)"
        var schedule: (total: Int, price: Int64)?
        for try await row in try await connection.query("""
            WITH holds AS (SELECT pg_advisory_xact_lock(hashtextextended(\(holdsKey), 0)))
            SELECT total_seats, price FROM schedules, holds WHERE id = \(p.scheduleId)
            """, logger: logger).decode((Int, Int64).self) {
            schedule = row
        }
        guard let schedule else { return Refusal.notFound }
        guard (1...schedule.total).contains(p.seatNo) else {
            return Refusal.invalid("'seatNo' must be from 1 to \(schedule.total) in this schedule.")
        }
        // Counts the user's live holds; and ends the seat's lapsed hold, if the reaper has not yet,
        // locking that reservation before the seat (the order pay, cancel and the reaper use).
        var live = 0
        for try await count in try await connection.query("""
            WITH lapsed AS (
                UPDATE reservations SET status = 'expired', updated_at = now()
                WHERE id = (SELECT reservation_id FROM seats WHERE schedule_id = \(p.scheduleId) AND seat_no = \(p.seatNo))
                  AND status = 'held' AND hold_expires_at < now()
            )
            SELECT count(*)::int FROM reservations
            WHERE user_id = \(p.userId) AND schedule_id = \(p.scheduleId) AND status = 'held' AND hold_expires_at > now()
            """, logger: logger).decode(Int.self) { live = count }
        guard live < Booking.maxHoldsPerSchedule else { return Refusal.alreadyReserved }
        // The arbiter: one conditional UPDATE of the seat row. The reservation is written in the same
        // statement, under an id drawn first, so the seat points at it and the hold ends at the same instant.
        let seconds = holdTTL.secondsValue
        var created: (id: Int64, expiresAt: Date)?
        for try await row in try await connection.query("""
            WITH next AS (SELECT nextval(pg_get_serial_sequence('reservations', 'id')) AS id),
            seat AS (
                UPDATE seats SET status = 'held', hold_expires_at = now() + make_interval(secs => \(seconds)),
                                 reservation_id = (SELECT id FROM next)
                WHERE schedule_id = \(p.scheduleId) AND seat_no = \(p.seatNo)
                  AND (status = 'available' OR (status = 'held' AND hold_expires_at < now()))
                RETURNING reservation_id, hold_expires_at
            ), reservation AS (
                INSERT INTO reservations (id, user_id, schedule_id, seat_no, status, price, hold_expires_at)
                OVERRIDING SYSTEM VALUE
                SELECT reservation_id, \(p.userId), \(p.scheduleId), \(p.seatNo), 'held', \(schedule.price), hold_expires_at FROM seat
                RETURNING id, hold_expires_at
            )
            SELECT id, hold_expires_at FROM reservation
            """, logger: logger).decode((Int64, Date).self) { created = (row.0, row.1) }
        guard let (reservationID, expiresAt) = created else { return Refusal.seatUnavailable }
        return try Refusal.success(201, Created(reservationId: reservationID, scheduleId: p.scheduleId, seatNo: p.seatNo,
                                                status: "held", price: schedule.price, holdExpiresAt: expiresAt))
    }
}
