import Logging
import PostgresNIO
import Shared
import Synchronization
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

    @Test("job_done carries each outcome as stored (large bodies by id only), in payloads under NOTIFY's 8,000 bytes")
    func doneNotices() async throws {
        try await TestDatabase.withDatabase { client, url in
            // 300 jobs; every 50th has a body over 2,000 bytes.
            try await client.query("""
                INSERT INTO jobs (kind, payload)
                SELECT 'echo', jsonb_build_object('n', n, 'pad', repeat('x', CASE WHEN n % 50 = 0 THEN 3000 ELSE 40 END))
                FROM generate_series(1, 300) n
                """)
            let payloads = Mutex<[String]>([])
            let connected = WakeSignal()
            let listener = NotificationListener(
                url: url, channels: [JobStore.doneChannel], applicationName: "stagedoor-test-listener", logger: logger,
                onConnect: { connected.signal() }, onNotification: { _, payload in payloads.withLock { $0.append(payload) } })
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await listener.run() }
                await connected.wait(upTo: .seconds(10))
                let runner = JobRunner(client: client, handlers: [EchoHandler()], batchSize: 300, logger: logger)
                let ran = try await runner.runBatch()
                #expect(ran == 300)
                #expect(await eventually { payloads.withLock { $0.flatMap(JobStore.doneNotices(in:)).count } == 300 })
                group.cancelAll()
            }
            let received = payloads.withLock { $0 }
            #expect(received.count > 1)
            #expect(received.allSatisfy { $0.utf8.count < 8000 })
            let notices = received.flatMap(JobStore.doneNotices(in:))
            var stored: [Int64: String] = [:]
            for try await (id, body) in try await client.query("SELECT id, response_body::text FROM jobs").decode((Int64, String).self) {
                stored[id] = body
            }
            #expect(Set(notices.map(\.id)) == Set(stored.keys))
            for notice in notices {
                let body = try #require(stored[notice.id])
                if body.utf8.count > 2000 {
                    #expect(notice.outcome == nil)
                } else {
                    #expect(notice.outcome == JobOutcome(status: 201, body: body))
                }
            }
            #expect(notices.filter { $0.outcome == nil }.count == 6)
        }
    }

    @Test("each outcome is announced only on its job's reply channel (dead ones too); jobs without one on job_done")
    func replyChannels() async throws {
        try await TestDatabase.withDatabase { client, url in
            let (first, second) = (JobStore.newReplyChannel(), JobStore.newReplyChannel())
            #expect(first != second)
            #expect(first.utf8.count == 25 && first.hasPrefix("job_done_"))
            let store = JobStore(client: client, logger: logger)
            var expected: [String: Set<Int64>] = [first: [], second: [], JobStore.doneChannel: []]
            for n in 0..<90 {
                let channel = [first, second, nil][n % 3]
                let kind = n % 30 == 0 ? "always_throws" : "echo"
                let job = NewJob(kind: JobKind(kind), payload: "{\"n\": \(n)}", maxAttempts: 1, replyChannel: channel)
                guard case .created(let id) = try await store.enqueue(job) else { Issue.record("job \(n) not created"); return }
                expected[channel ?? JobStore.doneChannel, default: []].insert(id)
            }
            let heard = Mutex<[String: Set<Int64>]>([:])
            let connected = WakeSignal()
            let listener = NotificationListener(
                url: url, channels: [first, second, JobStore.doneChannel], applicationName: "stagedoor-test-listener", logger: logger,
                onConnect: { connected.signal() },
                onNotification: { channel, payload in
                    heard.withLock { $0[channel, default: []].formUnion(JobStore.doneNotices(in: payload).map(\.id)) }
                })
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await listener.run() }
                await connected.wait(upTo: .seconds(10))
                let runner = JobRunner(client: client, handlers: [EchoHandler(), AlwaysThrowsHandler()], batchSize: 100, logger: logger)
                let ran = try await runner.runBatch()
                #expect(ran == 90)
                #expect(await eventually { heard.withLock { $0.values.map(\.count).reduce(0, +) } == 90 })
                group.cancelAll()
            }
            #expect(heard.withLock { $0 } == expected)
            #expect(try await client.scalar("SELECT count(*) FROM jobs WHERE state = 'dead'", as: Int64.self) == 3)
        }
    }

    @Test("the enqueue procedures' signatures before reply channels still enqueue (gateways of the earlier release in a rolling upgrade), on job_done")
    func signaturesBeforeReplyChannels() async throws {
        try await TestDatabase.withDatabase { client, _ in
            try await client.query("""
                CALL stagedoor_enqueue_jobs(ARRAY['echo'], ARRAY['{}'], ARRAY[-1]::bigint[], ARRAY['']::text[], ARRAY[''::bytea],
                                            ARRAY[5], false, NULL, NULL)
                """)
            try await client.query("""
                CALL stagedoor_enqueue_booking_jobs(ARRAY['echo', 'echo'], ARRAY['{}', '{}'], ARRAY[-1, -1]::bigint[], ARRAY['', '']::text[],
                    ARRAY[''::bytea, ''::bytea], ARRAY[5, 5], false, ARRAY[''::bytea, ''::bytea], ARRAY[0, 0]::bigint[], ARRAY[0, 0],
                    ARRAY[0, 0], ARRAY[0, 0], ARRAY['', '']::text[], ARRAY[0, 0]::bigint[], ARRAY[0, 0]::bigint[], NULL, NULL, NULL, NULL, NULL)
                """)
            #expect(try await client.scalar("SELECT count(*) FROM jobs WHERE state = 'queued' AND reply_channel IS NULL", as: Int64.self) == 3)
            let outcomes = try await client.scalar("""
                SELECT count(*) FROM stagedoor_finish_jobs((SELECT array_agg(id) FROM jobs), ARRAY[200, 200, 200], ARRAY['{}', '{}', '{}'])
                WHERE channel = 'job_done'
                """, as: Int64.self)
            #expect(outcomes == 3)
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
                    // The runner's session shows "idle in transaction" only once its backend has
                    // reported it, which can come a moment after the handler saw its statement
                    // complete (CommandComplete is sent before that report): ask until it does.
                    let killed = try await eventually(timeout: .seconds(10)) {
                        try await client.scalar("""
                            SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                            WHERE datname = current_database() AND application_name = 'stagedoor-test-runner' AND state = 'idle in transaction'
                            """, as: Int64.self) == 1
                    }
                    #expect(killed)
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

@Suite("Job runner: runs of one kind go to their handler together")
struct JobRunnerGroupingTests {
    let logger = Logger(label: "test.runner.grouping")

    @Test("consecutive jobs of one kind are one handler call each, in claim order; every job gets its own outcome")
    func groupsByKind() async throws {
        try await TestDatabase.withDatabase { client, _ in
            // a a a b b a: three runs.
            try await client.query("""
                INSERT INTO jobs (kind, payload)
                SELECT k, '{}' FROM unnest(ARRAY['a', 'a', 'a', 'b', 'b', 'a']) WITH ORDINALITY AS t(k, n) ORDER BY n
                """)
            let a = GroupingHandler(kind: "a"), b = GroupingHandler(kind: "b")
            let runner = JobRunner(client: client, handlers: [a, b], batchSize: 10, logger: logger)
            #expect(try await runner.runBatch() == 6)
            let ids = try await client.column("SELECT id FROM jobs ORDER BY id", as: Int64.self)
            #expect(a.groups.withLock { $0 } == [Array(ids[0...2]), [ids[5]]])
            #expect(b.groups.withLock { $0 } == [Array(ids[3...4])])
            #expect(try await client.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND response_status = 200", as: Int64.self) == 6)
            #expect(try await client.scalar("SELECT count(*) FROM jobs WHERE response_body = '{\"grouped\":true}'", as: Int64.self) == 5)
        }
    }

    @Test("a group answered with too few outcomes is a throw: the batch reruns one job per savepoint, each once")
    func shortGroupFallsBack() async throws {
        try await TestDatabase.withDatabase { client, _ in
            try await client.query("""
                INSERT INTO jobs (kind, payload) VALUES ('a', '{}'), ('a', '{"short": true}'), ('a', '{}')
                """)
            let a = GroupingHandler(kind: "a")
            let runner = JobRunner(client: client, handlers: [a], batchSize: 10, logger: logger)
            #expect(try await runner.runBatch() == 3)
            let ids = try await client.column("SELECT id FROM jobs ORDER BY id", as: Int64.self)
            // The grouped attempt (rolled back), then each job alone.
            #expect(a.groups.withLock { $0 } == [ids, [ids[0]], [ids[1]], [ids[2]]])
            #expect(try await client.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND attempts = 1", as: Int64.self) == 3)
            #expect(try await client.scalar("SELECT count(*) FROM jobs WHERE response_body = '{\"single\":true}'", as: Int64.self) == 3)
        }
    }
}
