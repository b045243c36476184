import Foundation
import PostgresNIO
import Shared

/// Reads and changes waiting rooms (`rooms`): the operator's API and the public room read. The
/// admission leader does the rest (stagedoor_admission_tick); a change here is in force from its
/// next tick, in every process.
struct RoomStore: Sendable {
    let database: GatewayDatabase

    /// A room as the operator sees it (docs/api.md, *Operator API*): settings in force, the line's
    /// figures as of the last tick.
    struct Room: Encodable, Sendable {
        let roomId: Int64
        let name: String
        let concertIds: [Int64]
        let state: String
        let opensAt: Date?
        let openedAt: Date?
        let admitPerSecond: Double
        let maxActive: Int
        let activeTtl: Double
        let idleTtl: Double
        /// Places not yet reached (tokens that left early count until admission passes them); the
        /// pre-queue's size while scheduled.
        let waiting: Int64
        let active: Int
        let admittedTotal: Int64
        let expiredTotal: Int64

        enum CodingKeys: String, CodingKey {
            case roomId, name, concertIds, state, opensAt, openedAt, admitPerSecond, maxActive, activeTtl, idleTtl, waiting, active
            case admittedTotal, expiredTotal
        }

        /// Every key, null ones included (synthesized encoding would leave them out).
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(roomId, forKey: .roomId)
            try c.encode(name, forKey: .name)
            try c.encode(concertIds, forKey: .concertIds)
            try c.encode(state, forKey: .state)
            try c.encode(opensAt, forKey: .opensAt)
            try c.encode(openedAt, forKey: .openedAt)
            try c.encode(admitPerSecond, forKey: .admitPerSecond)
            try c.encode(maxActive, forKey: .maxActive)
            try c.encode(activeTtl, forKey: .activeTtl)
            try c.encode(idleTtl, forKey: .idleTtl)
            try c.encode(waiting, forKey: .waiting)
            try c.encode(active, forKey: .active)
            try c.encode(admittedTotal, forKey: .admittedTotal)
            try c.encode(expiredTotal, forKey: .expiredTotal)
        }

        /// The public room: no cap, TTLs or totals.
        var publicView: PublicRoom {
            PublicRoom(roomId: roomId, name: name, state: state, opensAt: opensAt, admitPerSecond: admitPerSecond,
                       waiting: waiting, active: active, concertIds: concertIds)
        }
    }

    struct PublicRoom: Encodable, Sendable {
        let roomId: Int64; let name: String; let state: String; let opensAt: Date?; let admitPerSecond: Double
        let waiting: Int64; let active: Int; let concertIds: [Int64]

        enum CodingKeys: String, CodingKey { case roomId, name, state, opensAt, admitPerSecond, waiting, active, concertIds }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(roomId, forKey: .roomId)
            try c.encode(name, forKey: .name)
            try c.encode(state, forKey: .state)
            try c.encode(opensAt, forKey: .opensAt)
            try c.encode(admitPerSecond, forKey: .admitPerSecond)
            try c.encode(waiting, forKey: .waiting)
            try c.encode(active, forKey: .active)
            try c.encode(concertIds, forKey: .concertIds)
        }
    }

    /// Settings given when creating or changing a room; nil leaves a setting as it is (on creation:
    /// the queue worker's default).
    struct Settings: Sendable {
        var admitPerSecond: Double?
        var maxActive: Int?
        var activeTTL: Double?
        var idleTTL: Double?
        var opensAt: Date?
    }

    /// Why a change was refused.
    enum Refusal: Error {
        case unknownConcert(Int64)
        case concertInRoom(concertID: Int64, roomID: Int64)
        case noRoom
        case notScheduled
    }

    /// One room (nil: none), or every room (`id` nil), by id; `fromReplica`: a read that tolerates a
    /// replica's bounded lag (the public room), else the primary's (the operator's).
    func rooms(id: Int64? = nil, fromReplica: Bool = false) async throws -> [Room] {
        let read: @Sendable (PostgresClient) async throws -> [Room] = { client in
            try await client.withConnection { try await Self.read(id: id, on: $0, logger: database.logger) }
        }
        return fromReplica ? try await database.read(confirmOnPrimary: { $0.isEmpty }, read) : try await database.run(read)
    }

    /// Creates a room gating `concertIDs` (they leave room 1). With `opensAt` in the future it is
    /// `scheduled` (tokens form the pre-queue); otherwise it opens now.
    func create(name: String, concertIDs: [Int64], settings: Settings) async throws -> Result<Room, Refusal> {
        try await database.run { client in
            try await client.inTransaction(logger: database.logger) { connection -> Result<Room, Refusal> in
                // Locks the concerts, so two rooms never take the same one.
                var found: [Int64: Int64] = [:]
                for try await (id, room) in try await connection.query(
                    "SELECT id, room_id FROM concerts WHERE id = ANY (\(concertIDs)) ORDER BY id FOR UPDATE",
                    logger: database.logger).decode((Int64, Int64).self) {
                    found[id] = room
                }
                if let missing = concertIDs.first(where: { found[$0] == nil }) { return .failure(.unknownConcert(missing)) }
                if let (concert, room) = found.sorted(by: { $0.key < $1.key }).first(where: { $0.value != 1 }) {
                    return .failure(.concertInRoom(concertID: concert, roomID: room))
                }
                var roomID: Int64 = 0
                for try await id in try await connection.query("""
                    INSERT INTO rooms (name, state, opens_at, opened_at, admit_per_second, max_active, active_ttl_seconds, idle_ttl_seconds)
                    SELECT \(name), CASE WHEN o.at > now() THEN 'scheduled' ELSE 'open' END, o.at,
                           CASE WHEN o.at > now() THEN NULL ELSE now() END,
                           \(settings.admitPerSecond), \(settings.maxActive), \(settings.activeTTL), \(settings.idleTTL)
                    FROM (SELECT \(settings.opensAt)::timestamptz AS at) o
                    RETURNING id
                    """, logger: database.logger).decode(Int64.self) { roomID = id }
                try await connection.run("UPDATE concerts SET room_id = \(roomID) WHERE id = ANY (\(concertIDs))", logger: database.logger)
                guard let room = try await Self.read(id: roomID, on: connection, logger: database.logger).first else {
                    return .failure(.noRoom)
                }
                return .success(room)
            }
        }
    }

    /// Changes a room's settings and, with `state`, its state: a scheduled room leaves `scheduled`
    /// with its fair-start draw (stagedoor_open_rooms); none goes back to it. `opensAt` changes only
    /// while the room is scheduled.
    func change(id: Int64, state: String?, settings: Settings) async throws -> Result<Room, Refusal> {
        try await database.run { client in
            try await client.inTransaction(logger: database.logger) { connection -> Result<Room, Refusal> in
                var current: String?
                for try await value in try await connection.query(
                    "SELECT state FROM rooms WHERE id = \(id) FOR NO KEY UPDATE", logger: database.logger).decode(String.self) {
                    current = value
                }
                guard let current else { return .failure(.noRoom) }
                if settings.opensAt != nil, current != "scheduled" { return .failure(.notScheduled) }
                try await connection.run("""
                    UPDATE rooms SET
                        admit_per_second = COALESCE(\(settings.admitPerSecond), admit_per_second),
                        max_active = COALESCE(\(settings.maxActive), max_active),
                        active_ttl_seconds = COALESCE(\(settings.activeTTL), active_ttl_seconds),
                        idle_ttl_seconds = COALESCE(\(settings.idleTTL), idle_ttl_seconds),
                        opens_at = COALESCE(\(settings.opensAt), opens_at)
                    WHERE id = \(id)
                    """, logger: database.logger)
                if let state, state != current {
                    if current == "scheduled" {
                        try await connection.run("SELECT * FROM stagedoor_open_rooms(\(id), \(state))", logger: database.logger)
                    } else {
                        try await connection.run("UPDATE rooms SET state = \(state) WHERE id = \(id)", logger: database.logger)
                    }
                }
                guard let room = try await Self.read(id: id, on: connection, logger: database.logger).first else {
                    return .failure(.noRoom)
                }
                return .success(room)
            }
        }
    }

    private static func read(id: Int64?, on connection: PostgresConnection, logger: Logger) async throws -> [Room] {
        var rooms: [Room] = []
        let rows = try await connection.query("""
            SELECT r.id, r.name, COALESCE((SELECT array_agg(c.id ORDER BY c.id) FROM concerts c WHERE c.room_id = r.id), '{}'),
                   r.state, r.opens_at, r.opened_at, r.admit_per_second, r.max_active, r.active_ttl_seconds, r.idle_ttl_seconds,
                   GREATEST(COALESCE(pg_sequence_last_value(format('room_places_%s', r.id)::regclass), 0) - r.admitted_through, 0),
                   r.active_count, r.admitted_total, r.expired_total
            FROM rooms_in_force r
            WHERE \(id ?? 0) = 0 OR r.id = \(id ?? 0)
            ORDER BY r.id
            """, logger: logger)
        for try await row in rows {
            let c = row.makeRandomAccess()
            rooms.append(Room(
                roomId: try c[0].decode(Int64.self), name: try c[1].decode(String.self), concertIds: try c[2].decode([Int64].self),
                state: try c[3].decode(String.self), opensAt: try c[4].decode(Date?.self), openedAt: try c[5].decode(Date?.self),
                admitPerSecond: try c[6].decode(Double.self), maxActive: try c[7].decode(Int.self),
                activeTtl: try c[8].decode(Double.self), idleTtl: try c[9].decode(Double.self), waiting: try c[10].decode(Int64.self),
                active: try c[11].decode(Int.self), admittedTotal: try c[12].decode(Int64.self),
                expiredTotal: try c[13].decode(Int64.self)))
        }
        return rooms
    }
}
