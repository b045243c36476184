import Foundation
import Logging
import Metrics
import PostgresNIO

/// Claims a batch of jobs and runs it in one transaction: the domain changes, each job's outcome
/// and the `job_done` notification commit together or not at all.
///
/// The fast path runs the batch without savepoints (two fewer round trips per job). When a job
/// throws, that transaction is rolled back whole and the batch is claimed again and rerun with one
/// savepoint per job, so the failing job rolls back alone and is rescheduled with backoff.
public struct JobRunner: Sendable {
    let client: PostgresClient
    let handlers: [JobKind: any JobHandler]
    let batchSize: Int
    let retry: RetryPolicy
    let batchTimeout: Duration
    let logger: Logger

    /// A runner over `client`. A batch still running after `batchTimeout` has its connection closed
    /// (and so rolled back): a session the server dropped can otherwise leave a query waiting forever.
    public init(client: PostgresClient, handlers: [any JobHandler], batchSize: Int,
                retry: RetryPolicy = RetryPolicy(), batchTimeout: Duration = .seconds(60), logger: Logger) {
        self.client = client
        self.batchTimeout = batchTimeout
        self.handlers = Dictionary(handlers.map { ($0.kind, $0) }, uniquingKeysWith: { first, _ in first })
        self.batchSize = batchSize
        self.retry = retry
        self.logger = logger
        JobMetrics.prepare(kinds: handlers.map(\.kind))
    }

    /// Claims and runs up to one batch; returns how many jobs it claimed (0 when the queue is empty).
    public func runBatch() async throws -> Int {
        try await runBatch(jobsRan: { _ in })
    }

    /// Claims and runs up to one batch, and returns how many jobs it claimed once it committed.
    /// `jobsRan` is told that count as soon as the jobs have run, before their outcomes are stored
    /// and committed: a claim loop starts its next batch then (``JobWorker``), so the next claim
    /// overlaps this batch's last two round trips. It is called once, or not at all when this throws
    /// before the jobs ran.
    public func runBatch(jobsRan: @escaping @Sendable (Int) -> Void) async throws -> Int {
        do {
            return try await transaction { connection in try await runFast(on: connection, jobsRan: jobsRan) }
        } catch is JobThrew {
            JobMetrics.fallbacks.increment()
            return try await transaction { connection in try await runIsolated(on: connection, jobsRan: jobsRan) }
        }
    }

    /// One batch's transaction, closed if it outlives the batch timeout.
    private func transaction(_ body: @escaping @Sendable (PostgresConnection) async throws -> Int) async throws -> Int {
        try await client.inTransaction(logger: logger) { connection in
            try await connection.closing(after: batchTimeout) { try await body(connection) }
        }
    }

    /// Every job of the batch in the one transaction; the first throw aborts the whole batch. Each
    /// run of consecutive jobs of one kind (in lock order) goes to its handler together.
    private func runFast(on connection: PostgresConnection, jobsRan: @Sendable (Int) -> Void) async throws -> Int {
        let jobs = try await claim(on: connection)
        guard !jobs.isEmpty else {
            jobsRan(0)
            return 0
        }
        var outcomes: [(ClaimedJob, JobOutcome)] = []
        outcomes.reserveCapacity(jobs.count)
        var start = jobs.startIndex
        while start < jobs.endIndex {
            let kind = jobs[start].kind
            let end = jobs[start...].firstIndex { $0.kind != kind } ?? jobs.endIndex
            let group = Array(jobs[start..<end])
            let started = ContinuousClock.now
            let results: [JobOutcome]
            do {
                results = try await handle(group, on: connection)
            } catch {
                throw JobThrew(underlying: error)
            }
            let each = (ContinuousClock.now - started) / group.count
            for (job, outcome) in zip(group, results) {
                JobMetrics.run(kind: job.kind).record(duration: each)
                outcomes.append((job, outcome))
            }
            start = end
        }
        jobsRan(jobs.count)
        try await finish(outcomes, dead: [], on: connection)
        return jobs.count
    }

    /// Each job inside its own savepoint; a throwing job rolls back alone and is rescheduled.
    private func runIsolated(on connection: PostgresConnection, jobsRan: @Sendable (Int) -> Void) async throws -> Int {
        let jobs = try await claim(on: connection)
        var outcomes: [(ClaimedJob, JobOutcome)] = []
        var dead: [Int64] = []
        for job in jobs {
            try await connection.query("SAVEPOINT job", logger: logger)
            do {
                guard let outcome = try await handle([job], on: connection).first else { throw MissingOutcome(jobID: job.id) }
                try await connection.query("RELEASE SAVEPOINT job", logger: logger)
                outcomes.append((job, outcome))
            } catch {
                try await connection.query("ROLLBACK TO SAVEPOINT job", logger: logger)
                if try await recordFailure(of: job, error: error, on: connection) { dead.append(job.id) }
            }
        }
        jobsRan(jobs.count)
        try await finish(outcomes, dead: dead, on: connection)
        return jobs.count
    }

    private func claim(on connection: PostgresConnection) async throws -> [ClaimedJob] {
        var jobs: [ClaimedJob] = []
        for try await batch in try await connection.executeStatement(JobStore.Statements.Claim(limit: batchSize), logger: logger) {
            jobs.reserveCapacity(batch.ids.count)
            for n in batch.ids.indices {
                let kind = JobKind(batch.kinds[n])
                JobMetrics.wait(kind: kind).recordSeconds(max(batch.waited[n], 0))
                jobs.append(ClaimedJob(id: batch.ids[n], kind: kind, payload: batch.payloads[n], attempts: Int(batch.attempts[n]),
                                       maxAttempts: Int(batch.maxAttempts[n]), userID: batch.userIDs[n] < 0 ? nil : batch.userIDs[n]))
            }
        }
        return inLockOrder(jobs)
    }

    /// The batch sorted by each handler's lock key (jobs without one keep their claim order, first).
    func inLockOrder(_ jobs: [ClaimedJob]) -> [ClaimedJob] {
        let keys = jobs.map { handlers[$0.kind]?.lockOrder($0) }
        // No job locks a contended row (a backlog of one such kind): the claim order stands.
        guard keys.contains(where: { $0 != nil }) else { return jobs }
        let keyed = jobs.enumerated().map { (index, job) in (key: keys[index] ?? "", index: index, job: job) }
        return keyed.sorted { ($0.key, $0.index) < ($1.key, $1.index) }.map(\.job)
    }

    /// Runs jobs of one kind through their handler; exactly one outcome per job, or a throw.
    private func handle(_ jobs: [ClaimedJob], on connection: PostgresConnection) async throws -> [JobOutcome] {
        guard let first = jobs.first else { return [] }
        guard let handler = handlers[first.kind] else { throw UnknownJobKind(kind: first.kind) }
        var logger = self.logger
        logger[metadataKey: "job.kind"] = "\(first.kind)"
        if jobs.count == 1 { logger[metadataKey: "job.id"] = "\(first.id)" }
        let outcomes = jobs.count == 1
            ? [try await handler.run(first, on: connection, logger: logger)]
            : try await handler.run(jobs, on: connection, logger: logger)
        guard outcomes.count == jobs.count else { throw MissingOutcome(jobID: jobs[min(outcomes.count, jobs.count - 1)].id) }
        return outcomes
    }

    private func finish(_ outcomes: [(ClaimedJob, JobOutcome)], dead: [Int64], on connection: PostgresConnection) async throws {
        guard !outcomes.isEmpty || !dead.isEmpty else { return }
        let statement = JobStore.Statements.Finish(
            ids: outcomes.map { $0.0.id }, statuses: outcomes.map { $0.1.status },
            bodies: outcomes.map { $0.1.body }, extraDoneIDs: dead)
        for try await _ in try await connection.executeStatement(statement, logger: logger) {}
        var counts: [JobMetrics.KindStatus: Int] = [:]
        for (job, outcome) in outcomes { counts[JobMetrics.KindStatus(kind: job.kind, status: outcome.status), default: 0] += 1 }
        for (key, count) in counts { JobMetrics.outcome(kind: key.kind, status: key.status).increment(by: count) }
    }

    /// Reschedules a job that threw, or marks it dead; returns whether it is dead.
    private func recordFailure(of job: ClaimedJob, error: any Error, on connection: PostgresConnection) async throws -> Bool {
        let delay = retry.delay(afterAttempt: job.attempts + 1)
        let seconds = delay.secondsValue
        let message = JobFailure.summary(of: error)
        let rows = try await connection.query(
            JobStore.Statements.fail(id: job.id, error: message, delaySeconds: seconds, deadBody: Self.deadBody),
            logger: logger)
        var isDead = false
        for try await value in rows.decode(Bool.self) { isDead = value }
        logger.warning("job threw", metadata: [
            "job.id": "\(job.id)", "job.kind": "\(job.kind)", "job.attempt": "\(job.attempts + 1)",
            "job.dead": "\(isDead)", "error": "\(String(reflecting: error))",
        ])
        if isDead { JobMetrics.dead(kind: job.kind).increment() } else { JobMetrics.retries(kind: job.kind).increment() }
        return isDead
    }

    /// The answer a client gets for a job that gave up: a `503 unavailable` problem.
    static let deadBody = ProblemDocument.json(
        status: 503, code: "unavailable", title: "Service unavailable", detail: "The request could not be completed; retry later.")
}

/// A handler gave a job no outcome it could use: a bug, treated as a throw (retried, then dead).
public struct MissingOutcome: Error, CustomStringConvertible {
    public let jobID: Int64
    public init(jobID: Int64) { self.jobID = jobID }
    public var description: String { "the handler returned no single outcome for job \(jobID)" }
}

/// Marks a handler's throw on the fast path, so the batch is rerun with savepoints.
struct JobThrew: Error {
    let underlying: any Error
}
