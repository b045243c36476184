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
        var schedule: (total: Int, price: Int64, liveHolds: Int, seatTaken: Bool)?
        let read = Statements.LockAndRead(
            userID: p.userId, holdsKey: "holds:\(p.userId):\(p.scheduleId)", scheduleID: p.scheduleId, seatNo: p.seatNo)
        for try await row in try await connection.execute(read, logger: logger) { schedule = row }
        guard let schedule else { return Refusal.notFound }
        guard (1...schedule.total).contains(p.seatNo) else {
            return Refusal.invalid("'seatNo' must be from 1 to \(schedule.total) in this schedule.")
        }
        // Refusals as of the first statement's snapshot are true at that instant: refuse at once
        // (a hot seat's thousand losers cost one statement each, not three). The limit comes first.
        guard schedule.liveHolds < Booking.maxHoldsPerSchedule else { return Refusal.alreadyReserved }
        guard !schedule.seatTaken else { return Refusal.seatUnavailable }
        var live = 0
        let count = Statements.ExpireLapsedAndCount(userID: p.userId, scheduleID: p.scheduleId, seatNo: p.seatNo)
        for try await holds in try await connection.execute(count, logger: logger) { live = holds }
        guard live < Booking.maxHoldsPerSchedule else { return Refusal.alreadyReserved }
        var created: (id: Int64, expiresAt: Date)?
        let hold = Statements.HoldSeat(
            userID: p.userId, scheduleID: p.scheduleId, seatNo: p.seatNo, holdSeconds: holdTTL.secondsValue, price: schedule.price)
        for try await row in try await connection.execute(hold, logger: logger) { created = (row.0, row.1) }
        guard let (reservationID, expiresAt) = created else { return Refusal.seatUnavailable }
        return try Refusal.success(201, Created(reservationId: reservationID, scheduleId: p.scheduleId, seatNo: p.seatNo,
                                                status: "held", price: schedule.price, holdExpiresAt: expiresAt))
    }
}
