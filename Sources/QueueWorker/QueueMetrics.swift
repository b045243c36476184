import Metrics

/// The waiting room's metrics, exposed on the queue worker's `/metrics` (`METRICS_PORT`).
enum QueueMetrics {
    /// `stagedoor_queue_leader`: 1 while this instance admits.
    static let leader = Gauge(label: "stagedoor_queue_leader")
    /// `stagedoor_queue_active`: active tokens after the last tick.
    static let active = Gauge(label: "stagedoor_queue_active")
    /// `stagedoor_queue_waiting`: tokens in line behind the last admitted (upper bound: includes ones that left).
    static let waiting = Gauge(label: "stagedoor_queue_waiting")
    /// `stagedoor_queue_admitted_per_tick`: how many the last tick admitted.
    static let admittedPerTick = Gauge(label: "stagedoor_queue_admitted_per_tick")
    /// `stagedoor_queue_admitted_total`.
    static let admitted = Counter(label: "stagedoor_queue_admitted_total")
    /// `stagedoor_queue_expired_total{reason="active_ttl"|"idle"}`.
    static let expiredActive = Counter(label: "stagedoor_queue_expired_total", dimensions: [("reason", "active_ttl")])
    static let expiredIdle = Counter(label: "stagedoor_queue_expired_total", dimensions: [("reason", "idle")])

    static func record(admitted count: Int, expiredActive: Int, expiredIdle: Int, active: Int, waiting: Int64) {
        admitted.increment(by: count)
        admittedPerTick.record(count)
        Self.expiredActive.increment(by: expiredActive)
        Self.expiredIdle.increment(by: expiredIdle)
        Self.active.record(active)
        Self.waiting.record(waiting)
    }
}
