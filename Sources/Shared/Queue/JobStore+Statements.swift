import NIOCore
import PostgresNIO

extension JobStore {
    /// Every SQL statement over `jobs`, in one place. Values are always bound.
    enum Statements {
        /// Inserts jobs and commits, in one CALL (`stagedoor_enqueue_jobs`, sql/functions), waking the
        /// workers once if `notify` and any was inserted. The one row answers per job, in order:
        /// created, and the id — the existing job's when the idempotency key was taken, 0 when that
        /// job is not visible yet (or is in this batch). The row is sent only after the procedure's
        /// COMMIT, so an id is never handed out for a row that was not committed. Prepared once per
        /// connection.
        struct Enqueue: PostgresPreparedStatement {
            static let sql = "CALL stagedoor_enqueue_jobs($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bytea[], $6::int[], $7::text[], $8::bool, NULL, NULL)"
            /// One attempt per job, in input order.
            typealias Row = [EnqueueAttempt]

            let jobs: [NewJob]
            let notify: Bool

            func makeBindings() throws -> PostgresBindings {
                var bindings = PostgresBindings()
                JobStore.appendJobColumns(jobs, to: &bindings)
                bindings.append(notify)
                return bindings
            }

            func decodeRow(_ row: PostgresRow) throws -> [EnqueueAttempt] {
                let (created, ids) = try row.decode(([Bool], [Int64]).self)
                guard created.count == jobs.count, ids.count == jobs.count else {
                    throw JobStoreError.enqueueAnswerMismatch(jobs: jobs.count, answers: created.count)
                }
                return jobs.indices.map { n in EnqueueAttempt(id: ids[n] == 0 ? nil : ids[n], created: created[n]) }
            }
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
        /// (`stagedoor_claim_jobs`: always a plain scan of the claim index).
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

        /// Stores outcomes (`stagedoor_finish_jobs`) and announces them, each on its job's reply
        /// channel (the gateway that waits for it; else the shared `job_done`): one line per job,
        /// `id status body` (body as stored), or only `id` for a body over 2,000 bytes and for dead
        /// jobs; lines are grouped per channel into payloads under NOTIFY's 8,000 bytes.
        struct Finish: PostgresPreparedStatement {
            static let sql = """
                WITH finished AS (
                    SELECT f.id, f.status, f.body, f.channel FROM stagedoor_finish_jobs($1::bigint[], $2::int[], $3::text[]) AS f
                ), lines AS (
                    SELECT channel, CASE WHEN octet_length(body) <= 2000 THEN id || ' ' || status || ' ' || body ELSE id::text END AS line
                    FROM finished
                    UNION ALL
                    SELECT COALESCE(j.reply_channel, '\(JobStore.doneChannel)'), j.id::text FROM jobs j WHERE j.id = ANY($4::bigint[])
                ), chunks AS (
                    SELECT channel, line,
                           sum(octet_length(line) + 1) OVER (PARTITION BY channel ROWS UNBOUNDED PRECEDING) / 7000 AS chunk
                    FROM lines
                )
                SELECT count(pg_notify(channel, payload))
                FROM (SELECT channel, string_agg(line, E'\\n') AS payload FROM chunks GROUP BY channel, chunk) grouped
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

extension JobStore {
    /// Binds the job columns `stagedoor_insert_jobs` takes, in its order: kinds, payloads, user ids
    /// (-1: none), idempotency keys ('': none), request digests (empty: none), max attempts, reply
    /// channels ('': the shared `job_done`).
    public static func appendJobColumns(_ jobs: [NewJob], to bindings: inout PostgresBindings) {
        bindings.append(jobs.map(\.kind.rawValue))
        bindings.append(jobs.map(\.payload))
        bindings.append(jobs.map { $0.userID ?? -1 })
        bindings.append(jobs.map { $0.idempotencyKey ?? "" })
        bindings.append(jobs.map { ByteBuffer(bytes: $0.requestHash ?? []) })
        bindings.append(jobs.map(\.maxAttempts))
        bindings.append(jobs.map { $0.replyChannel ?? "" })
    }
}
