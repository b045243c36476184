import Foundation
import NIOCore
import PostgresNIO
import Shared

extension ReserveSeatHandler {
    /// The reserve handler's statements, prepared once per connection: each reservation runs them.
    enum Statements {
        /// Reserves each seat in order (`stagedoor_reserve_seats`): one row per job, `n`
        /// its 1-based place, with its verdict (`held`, `not_found`, `invalid_seat`,
        /// `already_reserved`, `seat_unavailable`), the schedule's seats and price, and the hold.
        struct ReserveSeats: PostgresPreparedStatement {
            static let sql = """
                SELECT n, outcome, total_seats, price, reservation_id, hold_expires_at
                FROM stagedoor_reserve_seats($1::bigint[], $2::bigint[], $3::int[], $4::float8, $5::int)
                """
            typealias Row = (Int, String, Int?, Int64?, Int64?, Date?)

            let payloads: [ReserveSeatPayload]
            let holdSeconds: Double

            func makeBindings() throws -> PostgresBindings {
                var bindings = PostgresBindings()
                bindings.append(payloads.map(\.userId))
                bindings.append(payloads.map(\.scheduleId))
                bindings.append(payloads.map(\.seatNo))
                bindings.append(holdSeconds)
                bindings.append(Booking.maxHoldsPerSchedule)
                return bindings
            }

            func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
        }
    }
}
