import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import Shared

/// The waiting room's clock. Every instance holds a dedicated session and tries for the leader's
/// advisory lock; the leader runs one transaction per tick on that same session (expire, then admit),
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
            configuration: settings.databaseURL.connectionConfiguration(applicationName: "stagedoor-queue-worker-admission"),
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
        var plan = AdmissionPlan(admitPerSecond: settings.admitPerSecond, maxActive: settings.maxActive, tick: settings.queueTick)
        var leading = false
        var next = ContinuousClock.now
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
                    plan.reset()
                    QueueMetrics.leader.record(1)
                    logger.info("became admission leader")
                }
            }
            if leading {
                plan = try await connection.closing(after: max(settings.queueTick * 5, .seconds(10))) { [plan] in
                    var plan = plan
                    try await tick(on: connection, plan: &plan)
                    return plan
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

    /// One admission tick, in one transaction.
    private func tick(on connection: PostgresConnection, plan: inout AdmissionPlan) async throws {
        let idle = settings.waitingIdleTTL.secondsValue
        try await connection.run("BEGIN", logger: logger)
        do {
            var expiredActive = 0, expiredIdle = 0, active = 0, lastSeq: Int64 = 0, through: Int64 = 0, now: Int64 = 0
            for try await row in try await connection.query(AdmissionStatements.expire(idleTTL: idle), logger: logger)
                .decode((Int, Int, Int, Int64, Int64, Int64).self) {
                (expiredActive, expiredIdle, active, lastSeq, through, now) = row
            }
            active -= expiredActive
            let allowance = plan.allowance(at: .microseconds(now), active: active)
            var admitted = 0
            for try await row in try await connection.query(
                AdmissionStatements.admit(limit: allowance, activeTTL: settings.activeTTL.secondsValue, activeBefore: active,
                                          admitPerSecond: settings.admitPerSecond, maxActive: settings.maxActive, idleTTL: idle),
                logger: logger).decode((Int, Int64).self) {
                (admitted, through) = row
            }
            try await connection.run("COMMIT", logger: logger)
            plan.admitted(admitted)
            QueueMetrics.record(admitted: admitted, expiredActive: expiredActive, expiredIdle: expiredIdle,
                                active: active + admitted, waiting: max(0, lastSeq - through))
        } catch {
            try? await connection.run("ROLLBACK", logger: logger)
            throw error
        }
    }
}
