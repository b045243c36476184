import NIOCore
import PostgresNIO

extension JobStore {
    /// Every SQL statement over `jobs`, in one place. Values are always bound.
    enum Statements {
        /// Inserts jobs in one statement, waking the workers once if `notify` and any was inserted.
        /// One row per job, in order: (created, id, gate), where id is the existing job's when the
        /// idempotency key was taken, and NULL when that job is not visible yet (or is in this batch),
        /// and gate is NULL without a queue gate, else the required token's status as clients see it
        /// (`stagedoor_token_status`, sql/006) or `invalid` when it is unknown or another user's — a
        /// job whose gate is not `active` is not inserted. The gate in the statement spares the
        /// gateway a lookup of its own before each reserve and pay.
        /// Ids are drawn before the insert so each inserted row maps back to its job. Prepared once
        /// per connection: parsing and planning were a large share of Postgres's CPU per job.
        struct Enqueue: PostgresPreparedStatement {
            static let sql = """
                WITH req AS (
                    SELECT r.n, r.kind, r.payload, NULLIF(r.user_id, -1) AS user_id,
                           CASE WHEN r.has_key THEN r.key END AS key, NULLIF(r.hash, ''::bytea) AS hash, r.max_attempts,
                           CASE WHEN r.gate <> ''::bytea THEN COALESCE((
                               SELECT CASE WHEN q.user_id = r.user_id
                                           THEN stagedoor_token_status(q.status, q.expires_at, q.last_seen_at, w.idle_ttl_seconds)
                                           ELSE 'invalid' END
                               FROM queue_tokens q CROSS JOIN waiting_room w
                               WHERE q.token_hash = r.gate AND w.id = 1 LIMIT 1), 'invalid') END AS gate,
                           nextval('jobs_id_seq'::regclass) AS id
                    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bool[], $5::text[], $6::bytea[], $7::int[], $9::bytea[])
                         WITH ORDINALITY AS r(kind, payload, user_id, has_key, key, hash, max_attempts, gate, n)
                ), inserted AS (
                    INSERT INTO jobs (id, kind, payload, user_id, idempotency_key, request_hash, max_attempts)
                    OVERRIDING SYSTEM VALUE
                    SELECT id, kind, payload::jsonb, user_id, key, hash, max_attempts FROM req
                    WHERE gate IS NULL OR gate = 'active'
                    ORDER BY n
                    ON CONFLICT (user_id, kind, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                    RETURNING id
                ), woken AS (
                    SELECT pg_notify('\(JobStore.jobsChannel)', '') WHERE $8 AND EXISTS (SELECT 1 FROM inserted)
                )
                SELECT i.id IS NOT NULL,
                       COALESCE(i.id, CASE WHEN r.key IS NOT NULL AND (r.gate IS NULL OR r.gate = 'active') THEN (
                           SELECT j.id FROM jobs j
                           WHERE j.user_id = r.user_id AND j.kind = r.kind AND j.idempotency_key = r.key) END),
                       r.gate
                FROM req r
                LEFT JOIN inserted i ON i.id = r.id
                WHERE (SELECT count(*) FROM woken) >= 0
                ORDER BY r.n
                """
            typealias Row = (Bool, Int64?, String?)

            let jobs: [NewJob]
            let notify: Bool

            func makeBindings() throws -> PostgresBindings {
                var bindings = PostgresBindings()
                bindings.append(jobs.map(\.kind.rawValue))
                bindings.append(jobs.map(\.payload))
                bindings.append(jobs.map { $0.userID ?? -1 })
                bindings.append(jobs.map { $0.idempotencyKey != nil })
                bindings.append(jobs.map { $0.idempotencyKey ?? "" })
                bindings.append(jobs.map { ByteBuffer(bytes: $0.requestHash ?? []) })
                bindings.append(jobs.map(\.maxAttempts))
                bindings.append(notify)
                bindings.append(jobs.map { ByteBuffer(bytes: $0.requiredTokenHash ?? []) })
                return bindings
            }

            func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
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

        /// Locks up to `limit` runnable jobs, oldest first, skipping those other runners hold
        /// (`stagedoor_claim_jobs`, sql/002: always a plain scan of the claim index).
        struct Claim: PostgresPreparedStatement {
            static let sql = "SELECT id, kind, payload, attempts, max_attempts, user_id, waited FROM stagedoor_claim_jobs($1::int)"
            typealias Row = (Int64, String, String, Int, Int, Int64?, Double)

            let limit: Int

            func makeBindings() throws -> PostgresBindings {
                var bindings = PostgresBindings()
                bindings.append(limit)
                return bindings
            }

            func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
        }

        /// Stores outcomes (`stagedoor_finish_jobs`, sql/002) and tells gateways on `job_done`:
        /// one line per job, `id status body` (body as stored), or only `id` for a body over 2,000
        /// bytes and for dead jobs; lines are grouped into payloads under NOTIFY's 8,000 bytes.
        struct Finish: PostgresPreparedStatement {
            static let sql = """
                WITH finished AS (
                    SELECT f.id, f.status, f.body FROM stagedoor_finish_jobs($1::bigint[], $2::int[], $3::text[]) AS f
                ), lines AS (
                    SELECT CASE WHEN octet_length(body) <= 2000 THEN id || ' ' || status || ' ' || body ELSE id::text END AS line
                    FROM finished
                    UNION ALL SELECT unnest($4::bigint[])::text
                ), chunks AS (
                    SELECT line, sum(octet_length(line) + 1) OVER (ROWS UNBOUNDED PRECEDING) / 7000 AS chunk FROM lines
                )
                SELECT count(pg_notify('\(JobStore.doneChannel)', payload))
                FROM (SELECT string_agg(line, E'\\n') AS payload FROM chunks GROUP BY chunk) grouped
                """
            typealias Row = Int64

            let ids: [Int64]
            let statuses: [Int]
            let bodies: [String]
            let extraDoneIDs: [Int64]

            func makeBindings() throws -> PostgresBindings {
                var bindings = PostgresBindings()
                bindings.append(ids)
                bindings.append(statuses)
                bindings.append(bodies)
                bindings.append(extraDoneIDs)
                return bindings
            }

            func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
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
