import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import Shared

/// The waiting room's clock. Every instance holds a dedicated session and tries for the leader's
/// advisory lock; the leader runs one statement per tick on that same session (open, expire, admit, every room),
/// so if its session dies, its leadership and any half-done tick go with it. Standbys try again
/// twice per tick and take over within a tick or two of the leader's death.
struct AdmissionService: Service {
    let settings: Settings
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var failures = 0
            while !Task.isCancelled {
                do {
                    try await session()
                } catch {
                    if Task.isCancelled { break }
                    logger.warning("admission session lost", metadata: ["error": "\(String(reflecting: error))"])
                }
                QueueMetrics.leader.record(0)
                failures += 1
                try? await Task.sleep(for: RetryPolicy(base: .milliseconds(200), cap: .seconds(5)).delay(afterAttempt: failures))
            }
        }
    }

    /// One database session: stand by until leader, then tick until the session fails or we stop.
    private func session() async throws {
        let connection = try await PostgresConnection.connect(
            configuration: settings.directDatabaseURL.connectionConfiguration(applicationName: "stagedoor-queue-worker-admission"),
            id: 1, logger: logger)
        do {
            try await lead(on: connection)
        } catch {
            try? await connection.close()
            throw error
        }
        try? await connection.close()
    }

    private func lead(on connection: PostgresConnection) async throws {
        var leading = false
        var next = ContinuousClock.now
        // What gateways were last told of each room; empty after (re)gaining leadership, so the first
        // tick announces every room.
        var announced: [Int64: AdmissionNotice] = [:]
        while !Task.isCancelled {
            if !leading {
                leading = try await connection.closing(after: .seconds(10)) {
                    var acquired = false
                    for try await value in try await connection.query(AdmissionStatements.tryLead, logger: logger).decode(Bool.self) {
                        acquired = value
                    }
                    return acquired
                }
                if leading {
                    announced = [:]
                    QueueMetrics.leader.record(1)
                    logger.info("became admission leader")
                }
            }
            if leading {
                let rooms = try await connection.closing(after: max(settings.queueTick * 5, .seconds(10))) {
                    try await tick(on: connection)
                }
                QueueMetrics.record(rooms)
                let changed = rooms.map(\.notice).filter { announced[$0.roomID] != $0 }
                if !changed.isEmpty {
                    try await connection.closing(after: .seconds(10)) {
                        for payload in AdmissionNotice.payloads(changed) {
                            try await connection.run("SELECT pg_notify(\(AdmissionNotice.channel), \(payload))", logger: logger)
                        }
                    }
                    for notice in changed { announced[notice.roomID] = notice }
                }
                next += settings.queueTick
            } else {
                next += settings.queueTick / 2
            }
            // Ticks keep to their grid: after a late one the next comes sooner, so the rate holds
            // although no tick admits more than one tick's worth. Past a whole tick behind, start anew.
            let now = ContinuousClock.now
            if next < now - settings.queueTick { next = now }
            try await Task.sleep(until: next, clock: .continuous)
        }
    }

    /// One admission tick for every room: the due openings (their fair-start draws) in one statement,
    /// then the tick in another (`stagedoor_admission_tick`), each its own transaction. The rate's
    /// bookkeeping (time since each room's last tick, the fraction owed) lives in the room's row, so
    /// a new leader goes on where the old one stopped.
    private func tick(on connection: PostgresConnection) async throws -> [AdmissionStatements.RoomTick] {
        for try await (room, drawn) in try await connection.query(AdmissionStatements.openDue, logger: logger)
            .decode((Int64, Int64).self) {
            logger.info("room opened", metadata: ["room": "\(room)", "drawn": "\(drawn)"])
        }
        let query = AdmissionStatements.tick(
            tick: settings.queueTick.secondsValue, admitPerSecond: settings.admitPerSecond, maxActive: settings.maxActive,
            activeTTL: settings.activeTTL.secondsValue, idleTTL: settings.waitingIdleTTL.secondsValue)
        var rooms: [AdmissionStatements.RoomTick] = []
        for try await row in try await connection.query(query, logger: logger) {
            rooms.append(try AdmissionStatements.decode(row))
        }
        return rooms
    }
}
