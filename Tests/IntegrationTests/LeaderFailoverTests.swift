import Foundation
import PostgresNIO
import Shared
import Testing
import TestSupport

@Suite("Queue worker leadership")
struct LeaderFailoverTests {
    @Test("three queue workers admit at the configured rate; SIGKILL of the leader → a standby admits within two ticks")
    func failover() async throws {
        let url = try await TestDatabase.create(migrated: true)
        defer { Task { try? await TestDatabase.drop(url.database) } }
        try await TestDatabase.withClient(url) { db in
            try await db.fillWaitingLine(count: 2000)
            let env = ["DATABASE_URL": url.urlString, "ADMIT_PER_SECOND": "10", "QUEUE_TICK": "0.5"]
            let workers = try (0..<3).map { _ in try RunningProcess("stagedoor-queue-worker", environment: env) }
            let leaderFound = await eventually(timeout: .seconds(30)) { workers.contains { $0.output.contains("became admission leader") } }
            #expect(leaderFound)
            // Rate with three instances running: one leader admits, at 10/s. Measured on the
            // database's clock, as the admission test does: the tokens activated after the window's
            // first tick over the time from it to the last (each tick admits for the time since the
            // one before, on its transaction's now()), so neither this test's sleeps nor a late tick
            // on a busy machine move the figure.
            try await Task.sleep(for: .seconds(1))
            let start = try #require(try await db.scalar("SELECT clock_timestamp()", as: Date.self))
            try await Task.sleep(for: .seconds(4))
            let end = try #require(try await db.scalar("SELECT clock_timestamp()", as: Date.self))
            let rate = try #require(try await db.scalar("""
                WITH w AS (SELECT activated_at FROM queue_tokens WHERE activated_at BETWEEN \(start) AND \(end)),
                     f AS (SELECT min(activated_at) AS first, max(activated_at) AS last FROM w)
                SELECT count(*) FILTER (WHERE w.activated_at > f.first)::float8 / extract(epoch FROM f.last - f.first)::float8
                FROM w, f GROUP BY f.first, f.last
                """, as: Double.self))
            #expect(rate >= 8 && rate <= 12, "admitted \(rate)/s with three workers, configured 10/s")
            #expect(workers.filter { $0.output.contains("became admission leader") }.count == 1)

            let leader = try #require(workers.first { $0.output.contains("became admission leader") })
            let killedAt = try #require(try await db.scalar("SELECT clock_timestamp()", as: Date.self))
            leader.send(SIGKILL)
            let resumed = try await eventually(timeout: .seconds(10)) {
                try await db.scalar("SELECT count(*) FROM queue_tokens WHERE activated_at > \(killedAt)", as: Int64.self) ?? 0 > 0
            }
            #expect(resumed)
            let firstAfter = try #require(try await db.scalar("SELECT min(activated_at) FROM queue_tokens WHERE activated_at > \(killedAt)", as: Date.self))
            let gap = firstAfter.timeIntervalSince(killedAt)
            #expect(gap <= 1.0, "a standby admitted \(gap) s after the leader died (two ticks = 1.0 s)")
            #expect(workers.filter { $0.output.contains("became admission leader") }.count == 2)
            for worker in workers where worker.isRunning { worker.send(SIGTERM) }
            for worker in workers where worker !== leader { #expect(await worker.waitForExit() == 0) }
        }
    }
}
