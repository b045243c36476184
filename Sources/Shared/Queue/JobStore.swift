import Logging
import NIOCore
import PostgresNIO

/// The only code that touches the `jobs` table: enqueue, claim, finish, retry, read, sweep.
public struct JobStore: Sendable {
    /// The channel that wakes payment workers.
    public static let jobsChannel = "jobs"
    /// The shared channel that announces finished jobs enqueued without a reply channel of their
    /// own; see ``doneNotices(in:)`` for the payload.
    public static let doneChannel = "job_done"

    /// A new reply channel (``NewJob/replyChannel``) for one listener: `job_done_` and 16 random
    /// hex digits, a plain lowercase identifier well under PostgreSQL's 63 bytes.
    public static func newReplyChannel() -> String {
        let bits = UInt64.random(in: .min ... .max)
        let hex = String(bits, radix: 16)
        return doneChannel + "_" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// One finished job as a done payload reports it: its outcome, when the payload carries it.
    public struct DoneNotice: Sendable, Equatable {
        public let id: Int64
        public let outcome: JobOutcome?
    }

    /// Reads a done payload (on `job_done` or a reply channel): one line per job, `id status body` or only `id` (then the
    /// outcome must be read from the table). Lines that are neither are skipped: anyone who may
    /// connect can `NOTIFY` any channel.
    ///
    /// Split by bytes, not by `Character`: newline and space are single bytes in UTF-8 that never
    /// occur inside another character, and splitting by grapheme clusters was 3 % of a busy
    /// gateway's CPU.
    public static func doneNotices(in payload: String) -> [DoneNotice] {
        payload.utf8.split(separator: UInt8(ascii: "\n")).compactMap { line in
            let parts = line.split(separator: UInt8(ascii: " "), maxSplits: 2)
            guard let first = parts.first, let id = Int64(Substring(first)) else { return nil }
            guard parts.count == 3, let status = Int(Substring(parts[1])) else { return DoneNotice(id: id, outcome: nil) }
            return DoneNotice(id: id, outcome: JobOutcome(status: status, body: String(Substring(parts[2]))))
        }
    }

    let client: PostgresClient
    let coalescer: NotifyCoalescer?
    let logger: Logger
    /// Concurrent enqueues leave together: one statement, one commit and one wake-up per batch.
    private let enqueues: Batcher<NewJob, EnqueueAttempt>

    /// A store over `client`; with a `coalescer`, enqueues send at most one wake-up per its window.
    public init(client: PostgresClient, coalescer: NotifyCoalescer? = nil, logger: Logger) {
        self.client = client
        self.coalescer = coalescer
        self.logger = logger
        enqueues = Batcher(maxBatch: 64, maxInFlight: 1) { [client, coalescer, logger] jobs in
            try await Self.enqueueBatch(jobs, client: client, coalescer: coalescer, logger: logger)
        }
    }

    /// One job's row after a batched insert (``stagedoor_insert_jobs``, sql/functions): `created`
    /// (with the `outcome` it was stored with when its producer knew it already), or the id of the
    /// job that already had its idempotency key, or `declined` with the producer's reason, or none of
    /// these (a concurrent insert of that key was not yet visible: try again).
    public struct EnqueueAttempt: Sendable {
        public let id: Int64?
        public let created: Bool
        public let outcome: JobOutcome?
        /// Why the producer's own statement declined to insert the job (its words, opaque here).
        public let declined: String?

        public init(id: Int64?, created: Bool, outcome: JobOutcome? = nil, declined: String? = nil) {
            self.id = id
            self.created = created
            self.outcome = outcome
            self.declined = declined
        }
    }

    private static func enqueueBatch(
        _ jobs: [NewJob], client: PostgresClient, coalescer: NotifyCoalescer?, logger: Logger
    ) async throws -> [EnqueueAttempt] {
        try await withWakeUp(coalescer) { notify in
            // One CALL inserts and commits: its row comes only after the commit.
            try await client.callCommitting(Statements.Enqueue(jobs: jobs, notify: notify), logger: logger)
        }
    }

    /// Runs one batched insert that wakes the workers when `notify` is true: inline, or left to the
    /// coalescer's trailing edge when a wake-up went out within its window. For producers that insert
    /// through a statement of their own (one that checks something, then calls `stagedoor_insert_jobs`).
    public static func withWakeUp(
        _ coalescer: NotifyCoalescer?, _ insert: (_ notify: Bool) async throws -> [EnqueueAttempt]
    ) async throws -> [EnqueueAttempt] {
        let notifyInline = coalescer?.claimInlineNotify() ?? true
        let attempts = try await insert(notifyInline)
        // Jobs stored finished need no worker.
        if !notifyInline, attempts.contains(where: { $0.created && $0.outcome == nil }) { coalescer?.noteSkippedNotify() }
        return attempts
    }

    /// The answer to an enqueue.
    public enum EnqueueResult: Sendable, Equatable {
        /// A new job was inserted.
        case created(id: Int64)
        /// A new job was inserted already finished with this outcome (its producer knew it).
        case finished(id: Int64, outcome: JobOutcome)
        /// A job with the same user, kind and idempotency key already exists.
        case existing(JobRecord)
        /// The producer's own statement declined the job, for this reason; nothing was inserted.
        case declined(String)
    }

    /// Inserts a job and wakes the workers, in one statement and one commit — shared with the
    /// enqueues running concurrently in this process (see ``Batcher``). With an idempotency key
    /// already used by this user for this kind, returns the existing job instead.
    /// With a `limit`, throws ``DeadlineExceeded`` once that much time has passed.
    public func enqueue(_ job: NewJob, within limit: Duration? = nil) async throws -> EnqueueResult {
        try await enqueue(job, within: limit) { job, left in try await enqueues.submit(job, within: left) }
    }

    /// Enqueues a job through `insert`, a producer's own batched statement (see ``withWakeUp(_:_:)``),
    /// and settles its answer: a replay is read back, a key race is tried again.
    public func enqueue(
        _ job: NewJob, within limit: Duration? = nil,
        through insert: (_ job: NewJob, _ left: Duration?) async throws -> EnqueueAttempt
    ) async throws -> EnqueueResult {
        let started = ContinuousClock.now
        func left() -> Duration? { limit.map { $0 - (ContinuousClock.now - started) } }
        // Under READ COMMITTED a concurrent insert of the same key may have committed after this
        // statement's snapshot (or be in the same batch): ON CONFLICT then skips, but the lookup
        // cannot see the row. Try again.
        for _ in 0..<5 {
            let attempt = try await insert(job, left())
            if let reason = attempt.declined { return .declined(reason) }
            guard let id = attempt.id else { continue }
            if attempt.created { return attempt.outcome.map { .finished(id: id, outcome: $0) } ?? .created(id: id) }
            let record = if let left = left() {
                try await withDeadline(left) { try await find(id: id) }
            } else {
                try await find(id: id)
            }
            if let record { return .existing(record) }
        }
        throw JobStoreError.enqueueRaceUnresolved
    }

    /// The job with this id, if any, read through `reader` (a replica's pool) or this store's client.
    public func find(id: Int64, reader: PostgresClient? = nil) async throws -> JobRecord? {
        let rows = try await (reader ?? client).query(Statements.find(id: id), logger: logger)
        for try await row in rows { return try Statements.decodeRecord(row) }
        return nil
    }

    /// The job this user enqueued with this idempotency key for this kind, if any.
    public func find(userID: Int64, kind: JobKind, idempotencyKey: String) async throws -> JobRecord? {
        let rows = try await client.query(Statements.find(userID: userID, kind: kind, key: idempotencyKey), logger: logger)
        for try await row in rows { return try Statements.decodeRecord(row) }
        return nil
    }

    /// Sends a `jobs` wake-up outside any enqueue (the coalescer's trailing edge, a rescan).
    public func notifyWorkers() async throws {
        try await client.run("SELECT pg_notify(\(Self.jobsChannel), '')", logger: logger)
    }

    /// Deletes finished jobs older than `retention`, at most `limit` at a time; returns how many.
    @discardableResult
    public func deleteFinished(olderThan retention: Duration, limit: Int = 10_000) async throws -> Int {
        let seconds = retention.secondsValue
        let rows = try await client.query(
            """
            WITH old AS (
                SELECT id FROM jobs WHERE state = 'succeeded' AND finished_at < now() - make_interval(secs => \(seconds))
                ORDER BY finished_at LIMIT \(limit)
            )
            DELETE FROM jobs j USING old WHERE j.id = old.id RETURNING j.id
            """, logger: logger)
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }

    /// The statement of ``depth()``: every part an index scan of a partial index (a test reads its
    /// plan), since it runs every few seconds in every worker while the table is at its largest.
    public static let depthSQL = """
        SELECT (SELECT count(*) FROM jobs WHERE state = 'queued')::bigint,
               COALESCE((SELECT extract(epoch FROM now() - min(created_at)) FROM jobs
                         WHERE state = 'queued' AND run_at <= now()), 0)::float8,
               (SELECT count(*) FROM jobs WHERE state = 'dead')::bigint
        """

    /// Queue depth, the age of the oldest runnable job and the dead jobs, for metrics.
    public func depth() async throws -> (queued: Int, oldestAge: Double, dead: Int) {
        let rows = try await client.query(PostgresQuery(unsafeSQL: Self.depthSQL), logger: logger)
        for try await (queued, age, dead) in rows.decode((Int64, Double, Int64).self) {
            return (Int(queued), age, Int(dead))
        }
        return (0, 0, 0)
    }
}

/// Failures of the job store itself.
public enum JobStoreError: Error {
    /// An idempotent enqueue kept racing with another and found no row; should never persist.
    case enqueueRaceUnresolved
    /// The enqueue's answer did not have one entry per job sent; nothing is handed out.
    case enqueueAnswerMismatch(jobs: Int, answers: Int)
    /// The claim's columns were not all of one length; nothing was run.
    case claimAnswerMismatch
}
