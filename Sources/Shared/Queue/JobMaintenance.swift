import Logging
import ServiceLifecycle

/// Keeps the job table small and its gauges fresh: samples queue depth every few seconds and
/// deletes finished jobs older than `JOB_RETENTION` (their idempotency keys go with them).
public struct JobMaintenance: Service {
    let store: JobStore
    let retention: Duration
    let sampleEvery: Duration
    let sweepEvery: Duration
    let logger: Logger

    public init(store: JobStore, retention: Duration, sampleEvery: Duration = .seconds(5),
                sweepEvery: Duration = .seconds(60), logger: Logger) {
        self.store = store
        self.retention = retention
        self.sampleEvery = sampleEvery
        self.sweepEvery = sweepEvery
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var lastSweep = ContinuousClock.now - sweepEvery
            while !Task.isCancelled {
                do {
                    let depth = try await withDeadline(.seconds(10)) { try await store.depth() }
                    JobMetrics.queued.record(depth.queued)
                    JobMetrics.oldestAge.record(depth.oldestAge)
                    JobMetrics.deadCount.record(depth.dead)
                    if ContinuousClock.now - lastSweep >= sweepEvery {
                        lastSweep = .now
                        var deleted = 0
                        while true {
                            let batch = try await withDeadline(.seconds(30)) { try await store.deleteFinished(olderThan: retention) }
                            deleted += batch
                            if batch < 10_000 { break }
                        }
                        if deleted > 0 { logger.info("deleted finished jobs", metadata: ["jobs.deleted": "\(deleted)"]) }
                    }
                } catch {
                    logger.warning("job maintenance failed", metadata: ["error": "\(String(reflecting: error))"])
                }
                try? await Task.sleep(for: sampleEvery)
            }
        }
    }
}
