import PostgresNIO
import Shared

/// The admission tick's statements, run by the leader on its own session.
enum AdmissionStatements {
    /// What one tick did in one room, and the room's counts after it.
    struct RoomTick: Sendable {
        let roomID: Int64
        let state: String
        let admitted: Int
        let expiredActive: Int
        let expiredIdle: Int
        let active: Int
        /// Places not yet reached (an upper bound: tokens that left early count until admission passes
        /// them); the pre-queue's size while the room is scheduled.
        let waiting: Int64
        let admittedThrough: Int64
        /// The rate in force.
        let admitPerSecond: Double

        /// What gateways are told of this room (`AdmissionNotice`).
        var notice: AdmissionNotice {
            AdmissionNotice(roomID: roomID, admittedThrough: admittedThrough, state: state, admitPerSecond: admitPerSecond)
        }
    }

    /// Opens the scheduled rooms whose time has come, drawing each one's pre-queue
    /// (`stagedoor_open_rooms`); returns each room opened and how many it drew. Its own transaction,
    /// before the tick's.
    static let openDue: PostgresQuery = "SELECT room_id, drawn FROM stagedoor_open_rooms(NULL)"

    /// One tick for every room in one statement and one transaction (`stagedoor_admission_tick`):
    /// expires, admits. The settings are the defaults of rooms without their own.
    static func tick(tick: Double, admitPerSecond: Double, maxActive: Int, activeTTL: Double, idleTTL: Double) -> PostgresQuery {
        """
        SELECT room_id, state, admitted, expired_active, expired_idle, active, waiting, admitted_through, admit_per_second
        FROM stagedoor_admission_tick(\(tick), \(admitPerSecond), \(maxActive)::int, \(activeTTL), \(idleTTL))
        """
    }

    static func decode(_ row: PostgresRow) throws -> RoomTick {
        let (room, state, admitted, expiredActive, expiredIdle, active, waiting, through, rate) =
            try row.decode((Int64, String, Int, Int, Int, Int, Int64, Int64, Double).self)
        return RoomTick(roomID: room, state: state, admitted: admitted, expiredActive: expiredActive,
                        expiredIdle: expiredIdle, active: active, waiting: waiting, admittedThrough: through,
                        admitPerSecond: rate)
    }

    /// Takes the admission leadership if nobody holds it (a session lock: it ends with the session).
    static let tryLead: PostgresQuery = "SELECT pg_try_advisory_lock(\(leaderLockClass), \(leaderLockObject))"
    static let leaderLockClass: Int32 = 0x5354  // "ST"
    static let leaderLockObject: Int32 = 1  // the admission clock of every room
}
