import Foundation
import Logging
import PostgresNIO
import Shared

/// `pay`: locks reservation → seat → wallet → token (always in that order), checks owner, hold and
/// balance, then debits, writes the history row and the payment, marks the reservation paid, the
/// seat sold and the token done — all in the claiming transaction, so all or nothing.
struct PayHandler: JobHandler {
    let kind = JobKind.pay

    struct Paid: Encodable {
        let paymentId: Int64; let reservationId: Int64; let amount: Int64; let status: String; let paidAt: Date; let balance: Int64
    }

    func run(_ job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> JobOutcome {
        let p = try job.decodePayload(ReservationPayload.self)
        var reservation: (userID: Int64, scheduleID: Int64, seatNo: Int, status: String, price: Int64, live: Bool)?
        for try await row in try await connection.query("""
            SELECT user_id, schedule_id, seat_no, status, price, hold_expires_at > now()
            FROM reservations WHERE id = \(p.reservationId) FOR UPDATE
            """, logger: logger).decode((Int64, Int64, Int, String, Int64, Bool).self) {
            reservation = (row.0, row.1, row.2, row.3, row.4, row.5)
        }
        guard let r = reservation, r.userID == p.userId else { return Refusal.notFound }
        if r.status == "paid" { return Refusal.alreadyPaid }
        guard r.status == "held", r.live else { return Refusal.holdExpired }
        var seatHeld = false
        for try await held in try await connection.query("""
            SELECT status = 'held' AND reservation_id = \(p.reservationId) FROM seats
            WHERE schedule_id = \(r.scheduleID) AND seat_no = \(r.seatNo) FOR UPDATE
            """, logger: logger).decode(Bool.self) { seatHeld = held }
        guard seatHeld else { return Refusal.holdExpired }
        var balance: Int64 = 0
        for try await value in try await connection.query(
            "SELECT balance FROM wallets WHERE user_id = \(p.userId) FOR UPDATE", logger: logger).decode(Int64.self) { balance = value }
        guard balance >= r.price else { return Refusal.insufficientPoints(balance: balance, required: r.price) }
        // The token that ends is the user's in the room gating this concert.
        try await connection.run("""
            SELECT q.id FROM queue_tokens q
            WHERE q.user_id = \(p.userId) AND q.status = 'active'
              AND q.room_id = (SELECT c.room_id FROM schedules s JOIN concerts c ON c.id = s.concert_id WHERE s.id = \(r.scheduleID))
            FOR UPDATE
            """, logger: logger)
        let newBalance = balance - r.price
        var paid: (Int64, Date)?
        for try await row in try await connection.query("""
            WITH w AS (
                UPDATE wallets SET balance = \(newBalance), updated_at = now() WHERE user_id = \(p.userId)
            ), h AS (
                INSERT INTO point_history (user_id, kind, amount, balance_after)
                SELECT \(p.userId), 'payment', \(r.price), \(newBalance) WHERE \(r.price) > 0
            ), pay AS (
                INSERT INTO payments (reservation_id, user_id, amount) VALUES (\(p.reservationId), \(p.userId), \(r.price))
                RETURNING id, paid_at
            ), res AS (
                UPDATE reservations SET status = 'paid', paid_at = (SELECT paid_at FROM pay), updated_at = now()
                WHERE id = \(p.reservationId)
            ), seat AS (
                UPDATE seats SET status = 'sold', hold_expires_at = NULL
                WHERE schedule_id = \(r.scheduleID) AND seat_no = \(r.seatNo)
            ), token AS (
                UPDATE queue_tokens SET status = 'done', ended_at = now()
                WHERE user_id = \(p.userId) AND status = 'active'
                  AND room_id = (SELECT c.room_id FROM schedules s JOIN concerts c ON c.id = s.concert_id WHERE s.id = \(r.scheduleID))
            )
            SELECT id, paid_at FROM pay
            """, logger: logger).decode((Int64, Date).self) { paid = row }
        guard let (paymentID, paidAt) = paid else { throw PayError.paymentNotWritten }
        return try Refusal.success(201, Paid(paymentId: paymentID, reservationId: p.reservationId, amount: r.price,
                                             status: "paid", paidAt: paidAt, balance: newBalance))
    }

    enum PayError: Error { case paymentNotWritten }
}

/// `cancel_reservation`: frees a held seat. Cancelled or expired ones answer unchanged; paid ones 409.
struct CancelReservationHandler: JobHandler {
    let kind = JobKind.cancelReservation

    func run(_ job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> JobOutcome {
        let p = try job.decodePayload(ReservationPayload.self)
        var found: (userID: Int64, scheduleID: Int64, seatNo: Int, status: String, price: Int64, holdExpiresAt: Date, paidAt: Date?, live: Bool)?
        for try await row in try await connection.query("""
            SELECT user_id, schedule_id, seat_no, status, price, hold_expires_at, paid_at, hold_expires_at > now()
            FROM reservations WHERE id = \(p.reservationId) FOR UPDATE
            """, logger: logger).decode((Int64, Int64, Int, String, Int64, Date, Date?, Bool).self) {
            found = (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7)
        }
        guard let r = found, r.userID == p.userId else { return Refusal.notFound }
        if r.status == "paid" { return Refusal.alreadyPaid }
        var status = r.status
        if status == "held" {
            status = r.live ? "cancelled" : "expired"
            try await connection.run("""
                WITH seat AS (
                    UPDATE seats SET status = 'available', hold_expires_at = NULL, reservation_id = NULL
                    WHERE schedule_id = \(r.scheduleID) AND seat_no = \(r.seatNo) AND reservation_id = \(p.reservationId) AND status = 'held'
                )
                UPDATE reservations SET status = \(status), updated_at = now() WHERE id = \(p.reservationId)
                """, logger: logger)
        }
        return try Refusal.success(200, ReservationBody(
            reservationId: p.reservationId, scheduleId: r.scheduleID, seatNo: r.seatNo, status: status, price: r.price,
            holdExpiresAt: r.holdExpiresAt, paidAt: r.paidAt))
    }
}
