import Foundation
import Logging
import PostgresNIO

/// What operators do with jobs: list queued and dead ones, retry or discard a dead one, count.
extension JobStore {
    /// A job as the operator API shows it. No payload, no outcome: those are the user's.
    public struct Summary: Sendable, Encodable {
        public let jobId: Int64
        public let kind: String
        public let state: String
        public let attempts: Int
        public let userId: Int64?
        public let createdAt: Date
        public let runAt: Date
        /// ``JobFailure/summary(of:)`` of its last throw, if any.
        public let lastError: String?

        enum CodingKeys: String, CodingKey { case jobId, kind, state, attempts, userId, createdAt, runAt, lastError }

        /// Every key, null ones included.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(jobId, forKey: .jobId)
            try c.encode(kind, forKey: .kind)
            try c.encode(state, forKey: .state)
            try c.encode(attempts, forKey: .attempts)
            try c.encode(userId, forKey: .userId)
            try c.encode(createdAt, forKey: .createdAt)
            try c.encode(runAt, forKey: .runAt)
            try c.encode(lastError, forKey: .lastError)
        }
    }

    /// The jobs in `state` (`queued` or `dead`), newest first, of `kind` if given, with ids below `before`.
    public func summaries(state: JobState, kind: String?, limit: Int, before: Int64) async throws -> [Summary] {
        let rows = try await client.query("""
            SELECT id, kind, state, attempts, user_id, created_at, run_at, last_error FROM jobs
            WHERE state = \(state.rawValue) AND id < \(before) AND (\(kind ?? "") = '' OR kind = \(kind ?? ""))
            ORDER BY id DESC LIMIT \(limit)
            """, logger: logger)
        var summaries: [Summary] = []
        for try await row in rows { summaries.append(try Self.summary(row)) }
        return summaries
    }

    /// What an operator's change of a dead job did.
    public enum DeadJobChange: Sendable {
        case done(Summary?)
        case notDead
        case notFound
    }

    /// Queues a dead job again with its attempts reset (its last error kept, for the record), and
    /// wakes the workers. Only a dead job: one that is queued or succeeded is left alone.
    public func retryDead(id: Int64) async throws -> DeadJobChange {
        try await changeDead(id: id, statement: """
            WITH retried AS (
                UPDATE jobs SET state = 'queued', attempts = 0, run_at = now(), started_at = NULL, finished_at = NULL,
                                response_status = NULL, response_body = NULL
                WHERE id = \(id) AND state = 'dead'
                RETURNING id, kind, state, attempts, user_id, created_at, run_at, last_error
            ), woken AS (
                SELECT pg_notify(\(Self.jobsChannel), '') FROM retried
            )
            SELECT * FROM retried WHERE (SELECT count(*) FROM woken) >= 0
            """)
    }

    /// Deletes a dead job for good (its idempotency key with it).
    public func discardDead(id: Int64) async throws -> DeadJobChange {
        try await changeDead(id: id, statement: """
            DELETE FROM jobs WHERE id = \(id) AND state = 'dead'
            RETURNING id, kind, state, attempts, user_id, created_at, run_at, last_error
            """)
    }

    private func changeDead(id: Int64, statement: PostgresQuery) async throws -> DeadJobChange {
        for try await row in try await client.query(statement, logger: logger) { return .done(try Self.summary(row)) }
        for try await _ in try await client.query("SELECT 1 FROM jobs WHERE id = \(id)", logger: logger) { return .notDead }
        return .notFound
    }

    private static func summary(_ row: PostgresRow) throws -> Summary {
        let (id, kind, state, attempts, userID, createdAt, runAt, lastError) = try row.decode(
            (Int64, String, String, Int, Int64?, Date, Date, String?).self)
        return Summary(jobId: id, kind: kind, state: state, attempts: attempts, userId: userID, createdAt: createdAt,
                       runAt: runAt, lastError: lastError)
    }

    /// The queue as operators see it.
    public struct Counts: Sendable, Encodable {
        /// Queued jobs no worker holds now.
        public let queued: Int64
        /// Queued jobs a worker holds now (claimed, in a transaction still open).
        public let running: Int64
        public let dead: Int64
        /// The age of the oldest runnable queued job no worker holds; 0 for none.
        public let oldestQueuedSeconds: Double
    }

    /// The statement of ``counts()``. A claimed job is a queued row locked by a claim's transaction,
    /// which is still in progress: its xmax is one of the snapshot's running transactions (xids
    /// compared by their low 32 bits, as a row stores them). Reads the queued rows by their partial
    /// index, as ``depthSQL`` does, and locks nothing.
    public static let countsSQL = """
        WITH busy AS (
            SELECT (x::text::bigint % 4294967296) AS xid FROM pg_snapshot_xip(pg_current_snapshot()) AS x
        ), queued AS (
            SELECT j.created_at, j.run_at, j.xmax::text::bigint IN (SELECT xid FROM busy) AS held
            FROM jobs j WHERE j.state = 'queued'
        )
        SELECT count(*) FILTER (WHERE NOT held)::bigint, count(*) FILTER (WHERE held)::bigint,
               (SELECT count(*) FROM jobs WHERE state = 'dead')::bigint,
               COALESCE(extract(epoch FROM now() - min(created_at) FILTER (WHERE NOT held AND run_at <= now())), 0)::float8
        FROM queued
        """

    public func counts() async throws -> Counts {
        for try await (queued, running, dead, oldest) in try await client.query(PostgresQuery(unsafeSQL: Self.countsSQL), logger: logger)
            .decode((Int64, Int64, Int64, Double).self) {
            return Counts(queued: queued, running: running, dead: dead, oldestQueuedSeconds: oldest)
        }
        return Counts(queued: 0, running: 0, dead: 0, oldestQueuedSeconds: 0)
    }
}

/// How a job's throw is recorded (`jobs.last_error`, shown to operators): a short code and
/// message, never the SQL of a failed statement or its values. `String(reflecting:)` of a
/// PostgresNIO error carries the query text; only the server's SQLSTATE and message are kept.
public enum JobFailure {
    public static func summary(of error: any Error) -> String {
        let text: String
        if let error = error as? PSQLError {
            if let state = error.serverInfo?[.sqlState], let message = error.serverInfo?[.message] {
                text = "database_error: \(state) \(message)"
            } else {
                text = "database_error: \(error.code)"
            }
        } else {
            text = "\(type(of: error)): \(String(describing: error))"
        }
        return String(text.prefix(300))
    }
}
