import Foundation
import NIOCore
import PostgresNIO

extension ReserveSeatHandler {
    /// The reserve handler's statements, prepared once per connection: each reservation runs them.
    enum Statements {
        /// Takes the (user, schedule) holds lock and reads the schedule, the user's live holds in it
        /// and whether the seat is taken (sold, or held and not lapsed), all as of one snapshot — so a
        /// refusal on them is true at one instant. One user's reservations in one schedule are decided
        /// one at a time, so the four-hold limit holds: the lock is taken here, and a hold is made
        /// only after the next statement counts again, after it. No row: no such schedule.
        struct LockAndRead: PostgresPreparedStatement {
            static let sql = """
                WITH holds AS (SELECT pg_advisory_xact_lock(hashtextextended($1, 0)))
                SELECT s.total_seats, s.price,
                       (SELECT count(*)::int FROM reservations r
                        WHERE r.user_id = $4 AND r.schedule_id = s.id AND r.status = 'held' AND r.hold_expires_at > now()),
                       COALESCE((SELECT seat.status = 'sold' OR (seat.status = 'held' AND seat.hold_expires_at >= now())
                                 FROM seats seat WHERE seat.schedule_id = s.id AND seat.seat_no = $3), false)
                FROM schedules s, holds WHERE s.id = $2
                """
            /// Seats in the schedule, price, the user's live holds, and whether the seat is taken.
            typealias Row = (Int, Int64, Int, Bool)

            let userID: Int64
            let holdsKey: String
            let scheduleID: Int64
            let seatNo: Int

            func makeBindings() throws -> PostgresBindings {
                var bindings = PostgresBindings()
                bindings.append(holdsKey)
                bindings.append(scheduleID)
                bindings.append(seatNo)
                bindings.append(userID)
                return bindings
            }

            func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
        }

        /// Counts the user's live holds in the schedule; and ends the seat's lapsed hold, if the
        /// reaper has not yet, locking that reservation before the seat (the order pay, cancel and
        /// the reaper use).
        struct ExpireLapsedAndCount: PostgresPreparedStatement {
            static let sql = """
                WITH lapsed AS (
                    UPDATE reservations SET status = 'expired', updated_at = now()
                    WHERE id = (SELECT reservation_id FROM seats WHERE schedule_id = $2 AND seat_no = $3)
                      AND status = 'held' AND hold_expires_at < now()
                )
                SELECT count(*)::int FROM reservations
                WHERE user_id = $1 AND schedule_id = $2 AND status = 'held' AND hold_expires_at > now()
                """
            typealias Row = Int

            let userID: Int64
            let scheduleID: Int64
            let seatNo: Int

            func makeBindings() throws -> PostgresBindings {
                var bindings = PostgresBindings()
                bindings.append(userID)
                bindings.append(scheduleID)
                bindings.append(seatNo)
                return bindings
            }

            func decodeRow(_ row: PostgresRow) throws -> Int { try row.decode(Int.self) }
        }

        /// The arbiter: one conditional UPDATE of the seat row. The reservation is written in the
        /// same statement, under an id drawn first, so the seat points at it and the hold ends at the
        /// same instant. No row: the seat is taken.
        struct HoldSeat: PostgresPreparedStatement {
            static let sql = """
                WITH next AS (SELECT nextval(pg_get_serial_sequence('reservations', 'id')) AS id),
                seat AS (
                    UPDATE seats SET status = 'held', hold_expires_at = now() + make_interval(secs => $4::float8),
                                     reservation_id = (SELECT id FROM next)
                    WHERE schedule_id = $2 AND seat_no = $3
                      AND (status = 'available' OR (status = 'held' AND hold_expires_at < now()))
                    RETURNING reservation_id, hold_expires_at
                ), reservation AS (
                    INSERT INTO reservations (id, user_id, schedule_id, seat_no, status, price, hold_expires_at)
                    OVERRIDING SYSTEM VALUE
                    SELECT reservation_id, $1, $2, $3, 'held', $5, hold_expires_at FROM seat
                    RETURNING id, hold_expires_at
                )
                SELECT id, hold_expires_at FROM reservation
                """
            typealias Row = (Int64, Date)

            let userID: Int64
            let scheduleID: Int64
            let seatNo: Int
            let holdSeconds: Double
            let price: Int64

            func makeBindings() throws -> PostgresBindings {
                var bindings = PostgresBindings()
                bindings.append(userID)
                bindings.append(scheduleID)
                bindings.append(seatNo)
                bindings.append(holdSeconds)
                bindings.append(price)
                return bindings
            }

            func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
        }
    }
}
