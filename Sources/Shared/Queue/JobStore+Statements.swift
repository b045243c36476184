import NIOCore
import PostgresNIO

extension JobStore {
    /// Every SQL statement over `jobs`, in one place. Values are always bound.
    enum Statements {
        static func enqueue(_ job: NewJob, notify: Bool) -> PostgresQuery {
            let hash = job.requestHash.map { ByteBuffer(bytes: $0) }
            return """
                WITH inserted AS (
                    INSERT INTO jobs (kind, payload, user_id, idempotency_key, request_hash, max_attempts)
                    VALUES (\(job.kind.rawValue), \(job.payload)::jsonb, \(job.userID), \(job.idempotencyKey), \(hash), \(job.maxAttempts))
                    ON CONFLICT (user_id, kind, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                    RETURNING id
                ), woken AS (
                    SELECT pg_notify(\(JobStore.jobsChannel), '') FROM inserted WHERE \(notify)
                )
                SELECT id, true FROM inserted WHERE (SELECT count(*) FROM woken) >= 0
                UNION ALL
                SELECT id, false FROM jobs
                WHERE \(job.idempotencyKey)::text IS NOT NULL AND user_id = \(job.userID) AND kind = \(job.kind.rawValue)
                  AND idempotency_key = \(job.idempotencyKey) AND NOT EXISTS (SELECT 1 FROM inserted)
                """
        }

        static func find(id: Int64) -> PostgresQuery {
            """
            SELECT id, kind, state, attempts, user_id, request_hash, response_status, response_body::text, last_error
            FROM jobs WHERE id = \(id)
            """
        }

        static func find(userID: Int64, kind: JobKind, key: String) -> PostgresQuery {
            """
            SELECT id, kind, state, attempts, user_id, request_hash, response_status, response_body::text, last_error
            FROM jobs WHERE user_id = \(userID) AND kind = \(kind.rawValue) AND idempotency_key = \(key)
            """
        }

        static func decodeRecord(_ row: PostgresRow) throws -> JobRecord {
            let (id, kind, state, attempts, userID, hash, status, body, lastError) = try row.decode(
                (Int64, String, String, Int, Int64?, ByteBuffer?, Int?, String?, String?).self)
            let outcome: JobOutcome? = if let status, let body { JobOutcome(status: status, body: body) } else { nil }
            return JobRecord(
                id: id, kind: JobKind(kind), state: JobState(rawValue: state) ?? .queued, attempts: attempts,
                userID: userID, requestHash: hash.map { Array($0.readableBytesView) }, outcome: outcome,
                lastError: lastError)
        }

        /// Locks up to `limit` runnable jobs, oldest first, skipping those other runners hold.
        static func claim(limit: Int) -> PostgresQuery {
            """
            SELECT id, kind, payload::text, attempts, max_attempts, user_id,
                   extract(epoch FROM now() - created_at)::float8
            FROM jobs
            WHERE state = 'queued' AND run_at <= now()
            ORDER BY id
            LIMIT \(limit)
            FOR UPDATE SKIP LOCKED
            """
        }

        /// Stores outcomes and tells gateways, in chunks that fit NOTIFY's 8000-byte payload.
        static func finish(ids: [Int64], statuses: [Int], bodies: [String], extraDoneIDs: [Int64]) -> PostgresQuery {
            """
            WITH finished AS (
                UPDATE jobs j
                SET state = 'succeeded', attempts = j.attempts + 1, response_status = o.status,
                    response_body = o.body::jsonb, started_at = now(), finished_at = clock_timestamp(), last_error = NULL
                FROM unnest(\(ids)::bigint[], \(statuses)::int[], \(bodies)::text[]) AS o(id, status, body)
                WHERE j.id = o.id
                RETURNING j.id
            ), done AS (
                SELECT id FROM finished UNION ALL SELECT unnest(\(extraDoneIDs)::bigint[])
            ), chunks AS (
                SELECT id, (row_number() OVER ()) / 300 AS chunk FROM done
            )
            SELECT count(pg_notify(\(JobStore.doneChannel), ids))
            FROM (SELECT string_agg(id::text, ',') AS ids FROM chunks GROUP BY chunk) grouped
            """
        }

        /// Records a thrown attempt: back in the queue after `delay`, or dead once attempts run out.
        static func fail(id: Int64, error: String, delaySeconds: Double, deadBody: String) -> PostgresQuery {
            """
            UPDATE jobs
            SET attempts = attempts + 1,
                last_error = \(error),
                state = CASE WHEN attempts + 1 >= max_attempts THEN 'dead' ELSE 'queued' END,
                run_at = CASE WHEN attempts + 1 >= max_attempts THEN run_at
                              ELSE clock_timestamp() + make_interval(secs => \(delaySeconds)) END,
                started_at = now(),
                finished_at = CASE WHEN attempts + 1 >= max_attempts THEN clock_timestamp() END,
                response_status = CASE WHEN attempts + 1 >= max_attempts THEN 503 END,
                response_body = CASE WHEN attempts + 1 >= max_attempts THEN \(deadBody)::jsonb END
            WHERE id = \(id)
            RETURNING state = 'dead'
            """
        }
    }
}
