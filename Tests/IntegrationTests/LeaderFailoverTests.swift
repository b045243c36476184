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
            // The clock is read once the leader is gone: read before the kill, a tick the leader
            // began in between could commit admissions "after" it and pass for the standby's.
            leader.send(SIGKILL)
            #expect(await leader.waitForExit(timeout: .seconds(5)) != nil)
            let killedAt = try #require(try await db.scalar("SELECT clock_timestamp()", as: Date.self))
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

    @Test("two queue workers, the leader killed as a room opens: the pre-queue is drawn once, nobody admitted twice, in drawn order")
    func leaderKilledAtOpening() async throws {
        let url = try await TestDatabase.create(migrated: true)
        defer { Task { try? await TestDatabase.drop(url.database) } }
        try await TestDatabase.withClient(url) { db in
            let fans = 300
            let room = try #require(try await db.scalar("""
                INSERT INTO rooms (name, state, opens_at, admit_per_second)
                VALUES ('on sale', 'scheduled', now() + interval '4 seconds', 100) RETURNING id
                """, as: Int64.self))
            try await db.fillWaitingLine(count: fans, room: room)
            let opensAt = try #require(try await db.scalar("SELECT opens_at FROM rooms WHERE id = \(room)", as: Date.self))
            let env = ["DATABASE_URL": url.urlString, "QUEUE_TICK": "0.2"]
            let workers = try (0..<2).map { _ in try RunningProcess("stagedoor-queue-worker", environment: env) }
            #expect(await eventually(timeout: .seconds(30)) { workers.contains { $0.output.contains("became admission leader") } })
            let leader = try #require(workers.first { $0.output.contains("became admission leader") })
            // Kill the leader at the opening: whichever tick draws (the leader's, or the standby's
            // after the leader's rolled back), it draws once.
            try await Task.sleep(for: .seconds(max(0, opensAt.timeIntervalSinceNow)))
            leader.send(SIGKILL)
            #expect(try await eventually(timeout: .seconds(15)) {
                try await db.scalar("SELECT state FROM rooms WHERE id = \(room)", as: String.self) == "open"
            })
            var drawn: [Int64: Int64] = [:]
            for try await (id, place) in try await db.query(
                "SELECT id, place FROM queue_tokens WHERE room_id = \(room)").decode((Int64, Int64?).self) {
                if let place { drawn[id] = place }
            }
            #expect(drawn.count == fans && Set(drawn.values) == Set(1...Int64(fans)), "every early fan has a distinct place")
            #expect(try await eventually(timeout: .seconds(30)) {
                try await db.scalar("SELECT count(*) FROM queue_tokens WHERE room_id = \(room) AND status = 'active'", as: Int64.self)
                    == Int64(fans)
            })
            // The places never changed after the draw, admission went in their order, and the room
            // counted each admission once.
            var after: [Int64: Int64] = [:]
            for try await (id, place) in try await db.query(
                "SELECT id, place FROM queue_tokens WHERE room_id = \(room)").decode((Int64, Int64).self) { after[id] = place }
            #expect(after == drawn)
            let order = try await db.column(
                "SELECT place FROM queue_tokens WHERE room_id = \(room) ORDER BY activated_at, place", as: Int64.self)
            #expect(order == Array(1...Int64(fans)))
            #expect(try await db.scalar("SELECT admitted_total FROM rooms WHERE id = \(room)", as: Int64.self) == Int64(fans))
            for worker in workers where worker.isRunning { worker.send(SIGTERM) }
            for worker in workers where worker !== leader { #expect(await worker.waitForExit() == 0) }
        }
    }
}
