import Logging
import PostgresNIO
import Shared
import Testing
import TestSupport

@Suite("Job runner")
struct JobRunnerTests {
    let logger = Logger(label: "test.runner")

    @Test("8 concurrent runners × 5,000 jobs: every effect exactly once")
    func exactlyOnceUnderConcurrency() async throws {
        try await TestDatabase.withDatabase(poolSize: 12) { client, _ in
            try await client.createEffectsTable()
            try await client.query("INSERT INTO jobs (kind, payload) SELECT 'effect', '{}' FROM generate_series(1, 40000)")
            let runner = JobRunner(client: client, handlers: [EffectHandler()], batchSize: 50, logger: logger)
            try await withThrowingDiscardingTaskGroup { group in
                for _ in 0..<8 {
                    group.addTask { while try await runner.runBatch() > 0 {} }
                }
            }
            // A runner may stop early while another still holds the last rows: drain what is left.
            while try await runner.runBatch() > 0 {}
            #expect(try await client.scalar("SELECT count(*) FROM test_effects", as: Int64.self) == 40000)
            #expect(try await client.scalar("SELECT count(DISTINCT job_id) FROM test_effects", as: Int64.self) == 40000)
            #expect(try await client.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND attempts = 1", as: Int64.self) == 40000)
        }
    }

    @Test("a runner killed mid-batch loses nothing: its jobs run later, exactly once")
    func killMidBatch() async throws {
        try await TestDatabase.withDatabase { client, url in
            try await client.createEffectsTable()
            try await client.query("""
                INSERT INTO jobs (kind, payload)
                SELECT 'stall_once', CASE WHEN n = 5 THEN '{"stall": true}' ELSE '{}' END::jsonb FROM generate_series(1, 10) n
                """)
            let handler = StallOnceHandler()
            try await TestDatabase.withClient(url, poolSize: 2, applicationName: "stagedoor-test-runner") { runnerClient in
                let runner = JobRunner(client: runnerClient, handlers: [handler], batchSize: 10, batchTimeout: .seconds(3), logger: logger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // The first batch dies with its session; the loop goes on like a worker's.
                        while try await client.scalar("SELECT count(*) FROM jobs WHERE state = 'queued'", as: Int64.self) ?? 0 > 0 {
                            _ = try? await withAbandonableDeadline(.seconds(5)) { try await runner.runBatch() }
                        }
                    }
                    await handler.reached.wait(upTo: .seconds(20))
                    // Mid-batch: five effects are written but not committed.
                    #expect(try await client.scalar("SELECT count(*) FROM test_effects", as: Int64.self) == 0)
                    let killed = try await client.scalar("""
                        SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                        WHERE datname = current_database() AND application_name = 'stagedoor-test-runner' AND state = 'idle in transaction'
                        """, as: Int64.self)
                    #expect(killed == 1)
                    handler.release.signal()
                    try await group.waitForAll()
                }
            }
            #expect(try await client.scalar("SELECT count(*) FROM test_effects", as: Int64.self) == 10)
            #expect(try await client.scalar("SELECT count(DISTINCT job_id) FROM test_effects", as: Int64.self) == 10)
            #expect(try await client.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'", as: Int64.self) == 10)
        }
    }

    @Test("a throwing job retries with growing delays, then is dead with its error; its batch-mates are unharmed")
    func retriesThenDead() async throws {
        try await TestDatabase.withDatabase { client, _ in
            try await client.createEffectsTable()
            try await client.query("INSERT INTO jobs (kind, payload, max_attempts) VALUES ('effect', '{}', 4), ('always_throws', '{}', 4), ('effect', '{}', 4)")
            let throwing = AlwaysThrowsHandler()
            let runner = JobRunner(
                client: client, handlers: [EffectHandler(), throwing], batchSize: 10,
                retry: RetryPolicy(base: .milliseconds(200), cap: .seconds(10), jitter: 0.1), logger: logger)
            let dead = try await eventually(timeout: .seconds(20)) {
                _ = try await runner.runBatch()
                return try await client.scalar("SELECT count(*) FROM jobs WHERE state = 'dead'", as: Int64.self) == 1
            }
            #expect(dead)
            let times = throwing.attempts.withLock { $0 }.sorted { $0.key < $1.key }.map(\.value)
            #expect(times.count == 4)
            // Each wait is at least the policy's shortest delay for that attempt: 180, 360, 720 ms.
            let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
            #expect(gaps.count == 3)
            for (index, gap) in gaps.enumerated() {
                #expect(gap >= .milliseconds(180 << index), "wait \(index + 1) was \(gap)")
            }
            let row = try await client.query("SELECT attempts, response_status, last_error FROM jobs WHERE kind = 'always_throws'")
            for try await (attempts, status, error) in row.decode((Int, Int, String).self) {
                #expect(attempts == 4)
                #expect(status == 503)
                #expect(error.contains("Boom"))
            }
            // The savepoint undid the thrower's writes; the other two jobs ran once each.
            #expect(try await client.scalar("SELECT count(*) FROM test_effects", as: Int64.self) == 2)
            #expect(try await client.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'", as: Int64.self) == 2)
        }
    }
}
