import Foundation
import PostgresNIO
import Shared

/// Reads concerts, bookable schedules and seat maps straight from Postgres.
struct CatalogStore: Sendable {
    let database: GatewayDatabase

    struct Concert: Encodable, Sendable { let id: Int64; let title: String; let artist: String; let roomId: Int64 }
    struct Schedule: Encodable, Sendable {
        let id: Int64; let concertId: Int64; let startsAt: Date; let price: Int64; let totalSeats: Int; let availableSeats: Int
    }

    /// A schedule to create.
    struct NewSchedule: Sendable { let startsAt: Date; let price: Int64; let seats: Int }
    struct CreatedSchedule: Encodable, Sendable { let id: Int64; let startsAt: Date; let price: Int64; let totalSeats: Int }
    struct CreatedConcert: Encodable, Sendable {
        let id: Int64; let title: String; let artist: String; let roomId: Int64; let schedules: [CreatedSchedule]
    }

    /// Inserts a concert, its schedules and every seat, in one transaction.
    func createConcert(title: String, artist: String, schedules: [NewSchedule]) async throws -> CreatedConcert {
        try await database.run { client in
            try await client.inTransaction(logger: database.logger) { connection in
                var concertID: Int64 = 0
                for try await id in try await connection.query(Statements.insertConcert(title: title, artist: artist), logger: database.logger)
                    .decode(Int64.self) { concertID = id }
                var created: [CreatedSchedule] = []
                for schedule in schedules {
                    for try await id in try await connection.query(
                        Statements.insertSchedule(concertID: concertID, schedule), logger: database.logger).decode(Int64.self) {
                        created.append(CreatedSchedule(id: id, startsAt: schedule.startsAt, price: schedule.price, totalSeats: schedule.seats))
                    }
                }
                return CreatedConcert(id: concertID, title: title, artist: artist, roomId: 1, schedules: created)
            }
        }
    }

    func concerts() async throws -> [Concert] {
        try await database.read { client in
            var result: [Concert] = []
            for try await (id, title, artist, room) in try await client.query(Statements.concerts, logger: database.logger)
                .decode((Int64, String, String, Int64).self) {
                result.append(Concert(id: id, title: title, artist: artist, roomId: room))
            }
            return result
        }
    }

    /// The concert's room and its schedules that start in the future, or nil when there is no such concert.
    func schedules(concertID: Int64) async throws -> (roomID: Int64, schedules: [Schedule])? {
        try await database.read(confirmOnPrimary: { $0 == nil }) { client in
            var room: Int64?
            for try await id in try await client.query(Statements.concertRoom(concertID), logger: database.logger).decode(Int64.self) {
                room = id
            }
            guard let room else { return nil }
            var result: [Schedule] = []
            for try await (id, startsAt, price, total, available) in try await client.query(
                Statements.schedules(concertID), logger: database.logger).decode((Int64, Date, Int64, Int, Int).self) {
                result.append(Schedule(id: id, concertId: concertID, startsAt: startsAt, price: price, totalSeats: total,
                                       availableSeats: available))
            }
            return (room, result)
        }
    }

    /// The room gating the schedule's concert, and the seat map as docs/api.md's JSON (`{"scheduleId",
    /// "seats": [{"seatNo", "status"}]}`, seats in order), or nil when there is no such schedule.
    /// Postgres writes the JSON: a map has up to a thousand seats and is read by every fan, so it is
    /// not decoded and re-encoded here.
    func seatMapJSON(scheduleID: Int64) async throws -> (roomID: Int64, json: String)? {
        try await database.read(confirmOnPrimary: { $0 == nil }) { client in
            for try await (room, json) in try await client.query(Statements.seatMap(scheduleID), logger: database.logger)
                .decode((Int64, String).self) {
                return (room, json)
            }
            return nil
        }
    }

    enum Statements {
        static let concerts: PostgresQuery = "SELECT id, title, artist, room_id FROM concerts ORDER BY id"

        static func insertConcert(title: String, artist: String) -> PostgresQuery {
            "INSERT INTO concerts (title, artist) VALUES (\(title), \(artist)) RETURNING id"
        }

        /// The schedule and all its seats, in one statement.
        static func insertSchedule(concertID: Int64, _ schedule: NewSchedule) -> PostgresQuery {
            """
            WITH s AS (
                INSERT INTO schedules (concert_id, starts_at, price, total_seats)
                VALUES (\(concertID), \(schedule.startsAt), \(schedule.price), \(schedule.seats)) RETURNING id
            ), seats AS (
                INSERT INTO seats (schedule_id, seat_no) SELECT s.id, n FROM s, generate_series(1, \(schedule.seats)) n
            )
            SELECT id FROM s
            """
        }

        static func concertRoom(_ id: Int64) -> PostgresQuery { "SELECT room_id FROM concerts WHERE id = \(id)" }

        /// A hold past its expiry counts as available: the reaper may not have released it yet.
        static func schedules(_ concertID: Int64) -> PostgresQuery {
            """
            SELECT s.id, s.starts_at, s.price, s.total_seats,
                   (SELECT count(*) FROM seats x WHERE x.schedule_id = s.id
                      AND (x.status = 'available' OR (x.status = 'held' AND x.hold_expires_at < now())))::int
            FROM schedules s WHERE s.concert_id = \(concertID) AND s.starts_at > now()
            ORDER BY s.starts_at, s.id
            """
        }

        /// A lapsed hold shows as available. Statuses are fixed words, so no escaping is needed.
        static func seatMap(_ scheduleID: Int64) -> PostgresQuery {
            """
            SELECT (SELECT c.room_id FROM schedules s JOIN concerts c ON c.id = s.concert_id WHERE s.id = \(scheduleID)),
                   '{"scheduleId":' || \(scheduleID)::bigint || ',"seats":[' || string_agg(
                       '{"seatNo":' || seat_no || ',"status":"'
                       || CASE WHEN status = 'held' AND hold_expires_at < now() THEN 'available' ELSE status END || '"}',
                       ',' ORDER BY seat_no) || ']}'
            FROM seats WHERE schedule_id = \(scheduleID) HAVING count(*) > 0
            """
        }
    }
}
