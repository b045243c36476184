import Foundation
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
        /// (`stagedoor_claim_jobs`: always a plain scan of the claim index). The batch comes back as
        /// one row of arrays, a column each (user id -1: none): measured against a row per job
        /// (2026-12-04, batches of 100 no-op jobs), the server writes one message instead of a
        /// hundred and the worker reads one.
        struct Claim: PostgresPreparedStatement {
            static let sql = """
                SELECT COALESCE(array_agg(id), '{}') AS ids, COALESCE(array_agg(kind), '{}') AS kinds,
                       COALESCE(array_agg(payload), '{}') AS payloads, COALESCE(array_agg(attempts), '{}') AS attempts,
                       COALESCE(array_agg(max_attempts), '{}') AS max_attempts,
                       COALESCE(array_agg(COALESCE(user_id, -1)), '{}') AS user_ids, COALESCE(array_agg(waited), '{}') AS waited
                FROM stagedoor_claim_jobs($1::int)
                """
            typealias Row = (ids: [Int64], kinds: [String], payloads: [String], attempts: [Int32], maxAttempts: [Int32],
                             userIDs: [Int64], waited: [Double])

            let limit: Int

            func makeBindings() throws -> PostgresBindings {
                var bindings = PostgresBindings()
                bindings.append(limit)
                return bindings
            }

            func decodeRow(_ row: PostgresRow) throws -> Row {
                let cells = row.makeRandomAccess()
                guard cells.count == 7 else { throw JobStoreError.claimAnswerMismatch }
                let ids = try BinaryArrays.int64s(cells[0]), kinds = try BinaryArrays.strings(cells[1])
                let payloads = try BinaryArrays.strings(cells[2]), attempts = try BinaryArrays.int32s(cells[3])
                let maxAttempts = try BinaryArrays.int32s(cells[4]), userIDs = try BinaryArrays.int64s(cells[5])
                let waited = try BinaryArrays.doubles(cells[6])
                let count = ids.count
                guard kinds.count == count, payloads.count == count, attempts.count == count, maxAttempts.count == count,
                      userIDs.count == count, waited.count == count
                else { throw JobStoreError.claimAnswerMismatch }
                return (ids, kinds, payloads, attempts, maxAttempts, userIDs, waited)
            }
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

extension JobStore {
    /// A pgbench script of one batch as the engine runs it, with the engine's own statement texts:
    /// BEGIN, the claim of `batch` jobs, the finish of all of them (status 200, body `{}`) with its
    /// notifications, COMMIT. `make bench` runs it as the ceiling the engine's drain is measured
    /// against, so the two cannot drift apart.
    public static func ceilingScript(batch: Int) -> String {
        let count = "cardinality(:ids::bigint[])"
        let finish = Statements.Finish.sql
            .replacingOccurrences(of: "$1", with: ":ids")
            .replacingOccurrences(of: "$2", with: "array_fill(200, ARRAY[\(count)])")
            .replacingOccurrences(of: "$3", with: "array_fill('{}'::text, ARRAY[\(count)])")
            .replacingOccurrences(of: "$4", with: "'{}'")
        let claim = Statements.Claim.sql.replacingOccurrences(of: "$1", with: "\(batch)")
        return "BEGIN;\n\(claim) \\gset\n\(finish);\nCOMMIT;\n"
    }
}
