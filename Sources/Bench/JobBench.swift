import Foundation
import Logging
import PostgresNIO
import Shared
import Synchronization

/// The job-engine scenarios, each on a fresh database of its own.
struct JobBench {
    /// A window as the table shows it: `0.5`, `2`.
    static func milliseconds(_ window: Duration) -> String { String(format: "%g", window.secondsValue * 1000) }

    let server: DatabaseURL
    let batch: Int
    let concurrency: Int
    let logger = Logger(label: "stagedoor.bench")

    /// Producers enqueue `jobs` one commit each (as gateways do) while the workers run them.
    func enqueueAndRun(jobs: Int, producers: Int, coalesce: Duration) async throws -> ReportRow {
        try await withEngine(coalesce: coalesce) { client, store, committed in
            let started = ContinuousClock.now
            try await withThrowingDiscardingTaskGroup { group in
                for producer in 0..<producers {
                    let share = jobs / producers + (producer < jobs % producers ? 1 : 0)
                    group.addTask {
                        for _ in 0..<share { _ = try await store.enqueue(NewJob(kind: NoopHandler.kind, payload: "{}")) }
                    }
                }
            }
            let seconds = (try await waitUntilDone(client, jobs: jobs, committed: committed) - started).secondsValue
            let batches = try await client.query("SELECT count(DISTINCT started_at)::int FROM jobs", logger: logger)
            for try await count in batches.decode(Int.self) {
                FileHandle.standardError.write(Data("enqueue + run: \(jobs) jobs ran in \(count) claims\n".utf8))
            }
            let label = coalesce == .zero ? "enqueue + run, NOTIFY every job" : "enqueue + run, NOTIFY coalesced (\(Self.milliseconds(coalesce)) ms)"
            return ReportRow(scenario: "\(label), \(producers) producers", jobs: jobs, rate: Double(jobs) / seconds,
                             latencies: try await latencies(client))
        }
    }

    /// A backlog already in the table: how fast the workers alone get through it.
    func drainBacklog(jobs: Int) async throws -> ReportRow {
        try await withDatabase { client, url in
            try await client.run("INSERT INTO jobs (kind, payload) SELECT 'noop', '{}' FROM generate_series(1, \(jobs))", logger: logger)
            try await client.run("VACUUM ANALYZE jobs", logger: logger)
            // As the ceiling's rounds start (scripts/bench.sh): nothing left for a checkpoint to write mid-drain.
            try await client.run("CHECKPOINT", logger: logger)
            let started = ContinuousClock.now
            let ended = try await runWorkers(client, url: url) { committed in try await waitUntilDone(client, jobs: jobs, committed: committed) }
            let seconds = (ended - started).secondsValue
            return ReportRow(scenario: "run only: a backlog, batch \(batch) × \(concurrency) loops", jobs: jobs, rate: Double(jobs) / seconds)
        }
    }

    /// `rate` jobs per second for `seconds`, evenly spaced: the latency a client sees at moderate load.
    func paced(rate: Int, seconds: Int, coalesce: Duration) async throws -> ReportRow {
        try await withEngine(coalesce: coalesce) { client, store, committed in
            let total = rate * seconds
            let producers = 8
            let interval = Duration.seconds(Double(producers) / Double(rate))
            let started = ContinuousClock.now
            try await withThrowingDiscardingTaskGroup { group in
                for producer in 0..<producers {
                    group.addTask {
                        var next = started + interval * (Double(producer) / Double(producers))
                        for _ in 0..<(total / producers) {
                            try await Task.sleep(until: next, clock: .continuous)
                            _ = try await store.enqueue(NewJob(kind: NoopHandler.kind, payload: "{}"))
                            next += interval
                        }
                    }
                }
            }
            let enqueued = (total / producers) * producers
            let ended = try await waitUntilDone(client, jobs: enqueued, committed: committed)
            let label = coalesce == .zero ? "NOTIFY every job" : "NOTIFY coalesced (\(Self.milliseconds(coalesce)) ms)"
            return ReportRow(scenario: "paced \(rate) jobs/s for \(seconds) s, \(label)", jobs: enqueued,
                             rate: Double(enqueued) / (ended - started).secondsValue, latencies: try await latencies(client))
        }
    }

    // MARK: - Plumbing

    private func withEngine<T: Sendable>(
        coalesce: Duration, _ body: @escaping @Sendable (PostgresClient, JobStore, CommittedJobs) async throws -> T
    ) async throws -> T {
        try await withDatabase { client, url in
            let plain = JobStore(client: client, logger: logger)
            let coalescer = coalesce == .zero ? nil : NotifyCoalescer(window: coalesce, logger: logger) { try await plain.notifyWorkers() }
            let store = JobStore(client: client, coalescer: coalescer, logger: logger)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                if let coalescer { group.addTask { try await coalescer.run() } }
                defer { group.cancelAll() }
                return try await runWorkers(client, url: url) { committed in try await body(client, store, committed) }
            }
        }
    }

    private func runWorkers<T: Sendable>(
        _ client: PostgresClient, url: DatabaseURL, _ body: (CommittedJobs) async throws -> T
    ) async throws -> T {
        let wake = WakeSignal()
        let committed = CommittedJobs()
        let connected = WakeSignal()
        let runner = JobRunner(client: client, handlers: [NoopHandler()], batchSize: batch, logger: logger)
        let worker = JobWorker(runner: runner, wake: wake, concurrency: concurrency, pollInterval: .seconds(1), logger: logger)
        let listener = NotificationListener(
            url: url, channels: [JobStore.jobsChannel, JobStore.doneChannel], applicationName: "stagedoor-bench-listener",
            logger: logger, onConnect: { wake.signal(); connected.signal() },
            onNotification: { channel, payload in
                if channel == JobStore.doneChannel { committed.add(payload) } else { wake.signal() }
            })
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await listener.run() }
            group.addTask { try await worker.run() }
            defer { group.cancelAll() }
            await connected.wait(upTo: .seconds(10))
            return try await body(committed)
        }
    }

    private func withDatabase<T: Sendable>(_ body: @escaping @Sendable (PostgresClient, DatabaseURL) async throws -> T) async throws -> T {
        let name = "bench_\(UInt32.random(in: 0...UInt32.max))"
        try await withClient(server) { try await $0.run("CREATE DATABASE \(unescaped: name)", logger: logger) }
        let url = server.with(database: name)
        let result = try await withClient(url) { client in
            try await Migrator(logger: logger).migrate(client)
            return try await body(client, url)
        }
        try await withClient(server) { try await $0.run("DROP DATABASE \(unescaped: name) WITH (FORCE)", logger: logger) }
        return result
    }

    private func withClient<T: Sendable>(_ url: DatabaseURL, _ body: (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: url.clientConfiguration(poolSize: 40, applicationName: "stagedoor-bench"),
                                    backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// Waits until `jobs` have succeeded and returns when they had: the moment their `job_done`
    /// notifications (sent at each batch's commit) added up to `jobs`, confirmed by the table. Without
    /// them for a second (a listener that lost its session), the table alone decides, at that moment.
    ///
    /// It asked the table every 5 ms before: a statement beside the two loops that took about a sixth
    /// of the bench process's CPU (5.8 against 4.8 CPU seconds per 200,000-job drain, 2026-12-05).
    private func waitUntilDone(_ client: PostgresClient, jobs: Int, committed: CommittedJobs) async throws -> ContinuousClock.Instant {
        committed.expect(jobs)
        while true {
            let notified = await committed.reached(upTo: .seconds(1))
            if try await allSucceeded(client, jobs: jobs) { return notified ?? ContinuousClock.now }
            if notified != nil { try await Task.sleep(for: .milliseconds(5)) }  // counted, not yet in the table
        }
    }

    /// Whether `jobs` have succeeded: while any job is queued only that is asked (a probe of the
    /// claim index), then the count of succeeded ones.
    private func allSucceeded(_ client: PostgresClient, jobs: Int) async throws -> Bool {
        for try await _ in try await client.query("SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1", logger: logger) {
            return false
        }
        var done = 0
        for try await count in try await client.query("SELECT count(*) FROM jobs WHERE state = 'succeeded'", logger: logger).decode(Int.self) {
            done = count
        }
        return done >= jobs
    }

    private func latencies(_ client: PostgresClient) async throws -> [Double] {
        var values: [Double] = []
        let rows = try await client.query("SELECT extract(epoch FROM started_at - created_at)::float8 FROM jobs", logger: logger)
        for try await value in rows.decode(Double.self) { values.append(value) }
        return values
    }
}

/// The minimal job: no work, an empty answer.
struct NoopHandler: JobHandler {
    static let kind = JobKind("noop")
    var kind: JobKind { Self.kind }

    func run(_ job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> JobOutcome {
        JobOutcome(status: 200, body: "{}")
    }
}

/// The jobs the workers have committed, counted from their `job_done` notifications: each batch's
/// commit sends one line per job.
final class CommittedJobs: Sendable {
    private struct State {
        var count = 0
        var expected = Int.max
        var reachedAt: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    private let signal = WakeSignal()

    /// A notification's payload: one line per job.
    func add(_ payload: String) {
        let lines = payload.utf8.reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        update { $0.count += lines }
    }

    func expect(_ jobs: Int) {
        update { $0.expected = jobs }
    }

    /// The moment the expected count was reached; waits for it up to `timeout` (nil: not yet).
    func reached(upTo timeout: Duration) async -> ContinuousClock.Instant? {
        if let at = state.withLock({ $0.reachedAt }) { return at }
        await signal.wait(upTo: timeout)
        return state.withLock { $0.reachedAt }
    }

    private func update(_ change: (inout State) -> Void) {
        let now = ContinuousClock.now
        let reached = state.withLock { state in
            change(&state)
            guard state.count >= state.expected, state.reachedAt == nil else { return false }
            state.reachedAt = now
            return true
        }
        if reached { signal.signal() }
    }
}
