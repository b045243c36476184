import Foundation
import Logging
import PostgresNIO
import Shared

/// `reserve_seat`: one conditional UPDATE of the seat row is the arbiter — of any number of
/// concurrent requests for a seat, exactly one holds it. At most four live holds per user and schedule.
struct ReserveSeatHandler: JobHandler {
    let kind = JobKind.reserveSeat
    let holdTTL: Duration

    /// The `201` of a new hold: the reservation as docs/api.md shows it (hand-written JSON, see ``JSONObjectText``).
    static func created(reservationID: Int64, payload: ReserveSeatPayload, price: Int64, holdExpiresAt: Date) -> JobOutcome {
        JobOutcome(status: 201, body: JSONObjectText([
            ("reservationId", .int(reservationID)), ("scheduleId", .int(payload.scheduleId)), ("seatNo", .int(Int64(payload.seatNo))),
            ("status", .string("held")), ("price", .int(price)), ("holdExpiresAt", .date(holdExpiresAt)),
        ]).text)
    }

    /// Reservations in a batch lock their seats in seat order.
    func lockOrder(_ job: ClaimedJob) -> String? {
        (try? job.decodePayload(ReserveSeatPayload.self)).map { lockKey("seat", $0.scheduleId, Int64($0.seatNo)) }
    }

    func run(_ job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> JobOutcome {
        guard let outcome = try await run([job], on: connection, logger: logger).first else { throw MissingOutcome(jobID: job.id) }
        return outcome
    }

    /// The whole run of reservations in one round trip (`stagedoor_reserve_seats`), in the
    /// runner's lock order.
    func run(_ jobs: [ClaimedJob], on connection: PostgresConnection, logger: Logger) async throws -> [JobOutcome] {
        let payloads = try jobs.map { try $0.decodePayload(ReserveSeatPayload.self) }
        let statement = Statements.ReserveSeats(payloads: payloads, holdSeconds: holdTTL.secondsValue)
        var outcomes = [JobOutcome?](repeating: nil, count: jobs.count)
        for try await (n, verdict, total, price, reservationID, expiresAt) in try await connection.executeStatement(statement, logger: logger) {
            guard (1...jobs.count).contains(n) else { continue }
            let p = payloads[n - 1]
            outcomes[n - 1] = switch (verdict, total, price, reservationID, expiresAt) {
            case ("held", _, let price?, let reservationID?, let expiresAt?):
                Self.created(reservationID: reservationID, payload: p, price: price, holdExpiresAt: expiresAt)
            case ("invalid_seat", let total?, _, _, _): Refusal.invalid("'seatNo' must be from 1 to \(total) in this schedule.")
            case ("already_reserved", _, _, _, _): Refusal.alreadyReserved
            case ("seat_unavailable", _, _, _, _): Refusal.seatUnavailable
            case ("not_found", _, _, _, _): Refusal.notFound
            default: nil
            }
        }
        return try zip(jobs, outcomes).map { job, outcome in
            guard let outcome else { throw MissingOutcome(jobID: job.id) }
            return outcome
        }
    }
}
