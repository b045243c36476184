import Metrics

/// The waiting rooms' metrics, exposed on the queue worker's `/metrics` (`METRICS_PORT`): the
/// totals over all rooms, and the same per room (label `room`, the room's id).
enum QueueMetrics {
    /// `stagedoor_queue_leader`: 1 while this instance admits.
    static let leader = Gauge(label: "stagedoor_queue_leader")
    /// `stagedoor_queue_active`: active tokens after the last tick, all rooms.
    static let active = Gauge(label: "stagedoor_queue_active")
    /// `stagedoor_queue_waiting`: places not yet reached, all rooms (upper bound: includes ones that left).
    static let waiting = Gauge(label: "stagedoor_queue_waiting")
    /// `stagedoor_queue_admitted_per_tick`: how many the last tick admitted, all rooms.
    static let admittedPerTick = Gauge(label: "stagedoor_queue_admitted_per_tick")
    /// `stagedoor_queue_admitted_total`.
    static let admitted = Counter(label: "stagedoor_queue_admitted_total")
    /// `stagedoor_queue_expired_total{reason="active_ttl"|"idle"}`.
    static let expiredActive = Counter(label: "stagedoor_queue_expired_total", dimensions: [("reason", "active_ttl")])
    static let expiredIdle = Counter(label: "stagedoor_queue_expired_total", dimensions: [("reason", "idle")])

    static let roomStates = ["scheduled", "open", "paused"]

    /// Records one tick: the totals, and per room `stagedoor_room_waiting`, `stagedoor_room_active`,
    /// `stagedoor_room_admitted_total`, `stagedoor_room_expired_total{reason}` and
    /// `stagedoor_room_state{state}` (1 for the room's state, 0 for the others).
    static func record(_ rooms: [AdmissionStatements.RoomTick]) {
        var admittedNow = 0, expiredActiveNow = 0, expiredIdleNow = 0, activeNow = 0, waitingNow: Int64 = 0
        for room in rooms {
            admittedNow += room.admitted
            expiredActiveNow += room.expiredActive
            expiredIdleNow += room.expiredIdle
            activeNow += room.active
            waitingNow += room.waiting
            let id = ("room", String(room.roomID))
            Gauge(label: "stagedoor_room_waiting", dimensions: [id]).record(room.waiting)
            Gauge(label: "stagedoor_room_active", dimensions: [id]).record(room.active)
            Counter(label: "stagedoor_room_admitted_total", dimensions: [id]).increment(by: room.admitted)
            Counter(label: "stagedoor_room_expired_total", dimensions: [id, ("reason", "active_ttl")]).increment(by: room.expiredActive)
            Counter(label: "stagedoor_room_expired_total", dimensions: [id, ("reason", "idle")]).increment(by: room.expiredIdle)
            for state in roomStates {
                Gauge(label: "stagedoor_room_state", dimensions: [id, ("state", state)]).record(state == room.state ? 1 : 0)
            }
        }
        admitted.increment(by: admittedNow)
        admittedPerTick.record(admittedNow)
        expiredActive.increment(by: expiredActiveNow)
        expiredIdle.increment(by: expiredIdleNow)
        active.record(activeNow)
        waiting.record(waitingNow)
    }
}
