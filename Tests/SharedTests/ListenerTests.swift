import Logging
import PostgresNIO
import Shared
import Synchronization
import Testing
import TestSupport

@Suite("Notifications are hints")
struct ListenerTests {
    let logger = Logger(label: "test.listener")

    @Test("a listener cancelled at any moment of its start stops within seconds, and its sessions are gone")
    func cancelledWhileStarting() async throws {
        try await TestDatabase.withDatabase { client, url in
            // Cancelled 0–30 ms after it starts: before, during and after its connect, LISTEN and first
            // ping. Cancelled while its LISTEN was in flight, a session could hang forever in PostgresNIO
            // (about one gateway test in thirty did); the listener must stop anyway.
            for round in 0..<150 {
                let listener = NotificationListener(
                    url: url, channels: [JobStore.doneChannel], applicationName: "stagedoor-test-cancel", logger: logger,
                    onConnect: {}, onNotification: { _, _ in })
                let running = Task { try await listener.run() }
                try await Task.sleep(for: .microseconds(Int.random(in: 0...30_000)))
                running.cancel()
                do {
                    try await withAbandonableDeadline(.seconds(5)) { try await running.value }
                } catch is DeadlineExceeded {
                    Issue.record("round \(round): the cancelled listener had not stopped after 5 s")
                    return
                }
            }
            #expect(try await eventually(timeout: .seconds(10)) {
                try await client.scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'stagedoor-test-cancel'", as: Int64.self) == 0
            })
        }
    }

    @Test("a session whose start outlasts the watchdog, at any moment of it, is replaced: the listener never stops trying")
    func startTimingOut() async throws {
        try await TestDatabase.withDatabase { client, url in
            // A watchdog of a few milliseconds: each session's LISTEN and first ping are cut off by the
            // connection's close at a random point (a loaded machine did this to gateways in CI, and a
            // gateway whose session then hung in PostgresNIO never listened again: every reply waited
            // for REPLY_TIMEOUT). Each new session is a new backend; they must keep coming.
            let sessions = Mutex<Set<Int32>>([])
            let listener = NotificationListener(
                url: url, channels: [JobStore.jobsChannel, "second"], applicationName: "stagedoor-test-cutoff",
                watchdogInterval: .milliseconds(3), reconnectDelay: RetryPolicy(base: .milliseconds(1), cap: .milliseconds(2), jitter: 0),
                logger: logger, onConnect: {}, onNotification: { _, _ in })
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await listener.run() }
                let counted = try await eventually(timeout: .seconds(60), every: .milliseconds(1)) {
                    let pids = try await client.column(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = 'stagedoor-test-cutoff'", as: Int32.self)
                    return sessions.withLock { $0.formUnion(pids); return $0.count >= 200 }
                }
                #expect(counted, "only \(sessions.withLock { $0.count }) sessions were started: the listener stopped trying")
                group.cancelAll()
            }
        }
    }

    @Test("a job enqueued while the worker's listener is disconnected still runs, without waiting for the poll")
    func enqueueWhileDisconnected() async throws {
        try await TestDatabase.withDatabase { client, url in
            try await client.createEffectsTable()
            let wake = WakeSignal()
            let connects = Counter()
            let runner = JobRunner(client: client, handlers: [EffectHandler()], batchSize: 10, logger: logger)
            // The backstop poll is a minute away: only the rescan after reconnecting can find the job in time.
            let worker = JobWorker(runner: runner, wake: wake, concurrency: 1, pollInterval: .seconds(60), logger: logger)
            let listener = NotificationListener(
                url: url, channels: [JobStore.jobsChannel], applicationName: "stagedoor-test-listener",
                reconnectDelay: RetryPolicy(base: .milliseconds(500), cap: .seconds(1), jitter: 0), logger: logger,
                onConnect: { connects.connected(); wake.signal() }, onNotification: { _, _ in wake.signal() })
            let store = JobStore(client: client, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await listener.run() }
                group.addTask { try await worker.run() }
                #expect(await eventually { connects.connections == 1 })
                _ = try await store.enqueue(NewJob(kind: JobKind("effect"), payload: "{}"))
                #expect(try await eventually(timeout: .seconds(3)) {
                    try await client.scalar("SELECT count(*) FROM test_effects", as: Int64.self) == 1
                })
                // A wake-up still pending from the start (the connect's rescan racing the first job's
                // notification) would run the next job without any reconnect: wait until the worker is
                // parked with nothing pending (on a loaded CI machine it was not, and the test failed).
                #expect(await eventually(timeout: .seconds(5)) { wake.isIdle })
                try await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'stagedoor-test-listener'")
                // Termination is asynchronous: wait until the session is gone (the listener waits 500 ms
                // before it reconnects), so the next wake-up really is sent while nobody listens.
                #expect(try await eventually(timeout: .seconds(5), every: .milliseconds(5)) {
                    try await client.scalar("""
                        SELECT count(*) FROM pg_stat_activity
                        WHERE datname = current_database() AND application_name = 'stagedoor-test-listener'
                        """, as: Int64.self) == 0
                })
                // Sent while nobody listens: this wake-up is lost.
                _ = try await store.enqueue(NewJob(kind: JobKind("effect"), payload: "{}"))
                #expect(try await eventually(timeout: .seconds(8)) {
                    try await client.scalar("SELECT count(*) FROM test_effects", as: Int64.self) == 2
                })
                #expect(connects.connections == 2)
                group.cancelAll()
            }
        }
    }

    @Test("coalescing: a burst of enqueues sends few wake-ups, and one after the last enqueue")
    func coalescedWakeUps() async throws {
        try await TestDatabase.withDatabase { client, url in
            let arrivals = Mutex<[ContinuousClock.Instant]>([])
            let connects = Counter()
            let listener = NotificationListener(
                url: url, channels: [JobStore.jobsChannel], applicationName: "stagedoor-test-listener", logger: logger,
                onConnect: { connects.connected() }, onNotification: { _, _ in arrivals.withLock { $0.append(.now) } })
            let plain = JobStore(client: client, logger: logger)
            // A window far longer than the two bursts take, even on a loaded machine (a doubled test load
            // stretched them to 3.4 s once): if the second burst started in a new window, it would carry
            // its own wake-up inline and need no trailing one.
            let window = Duration.seconds(8)
            let coalescer = NotifyCoalescer(window: window, logger: logger) { try await plain.notifyWorkers() }
            let store = JobStore(client: client, coalescer: coalescer, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await listener.run() }
                group.addTask { try await coalescer.run() }
                #expect(await eventually { connects.connections == 1 })
                // Two bursts within one window: the first carries its wake-up inline; the second's is
                // coalesced away, so a trailing wake-up must come after it.
                let firstEnqueue = ContinuousClock.now
                for _ in 0..<2 {
                    try await withThrowingDiscardingTaskGroup { burst in
                        for _ in 0..<10 { burst.addTask { _ = try await store.enqueue(NewJob(kind: JobKind("effect"), payload: "{}")) } }
                    }
                }
                let lastEnqueue = ContinuousClock.now
                try #require(lastEnqueue - firstEnqueue < window, "the bursts outlasted the window; the test's premise does not hold")
                #expect(await eventually(timeout: .seconds(20)) { arrivals.withLock { $0.last.map { $0 > lastEnqueue } ?? false } })
                try await Task.sleep(for: .milliseconds(700))
                let count = arrivals.withLock { $0.count }
                #expect(count >= 2)
                #expect(count < 10)  // 20 enqueues: without coalescing there would be 20
                #expect(try await client.scalar("SELECT count(*) FROM jobs", as: Int64.self) == 20)
                group.cancelAll()
            }
        }
    }
}
