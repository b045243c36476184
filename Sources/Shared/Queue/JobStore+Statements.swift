import NIOCore
import PostgresNIO

extension JobStore {
    /// Every SQL statement over `jobs`, in one place. Values are always bound.
    enum Statements {
        /// Inserts jobs and commits, in one CALL (`stagedoor_enqueue_jobs`, sql/007 and 011), waking the
        /// workers once if `notify` and any was inserted. The one row answers per job, in order:
        /// created; the id — the existing job's when the idempotency key was taken, 0 when that job
        /// is not visible yet (or is in this batch); and the gate — '' without a queue gate, else the
        /// required token's status as clients see it (`stagedoor_token_status`, sql/006) or
        /// `invalid` when it is unknown or another user's. A job whose gate is not `active` is not
        /// inserted; the gate in the statement spares the gateway a lookup of its own before each
        /// reserve and pay. A job with a ``SeatCheck`` that fails is stored finished with its refusal
        /// and answered with that outcome (sql/011). The row is sent only after the procedure's
        /// COMMIT, so an id is never handed out for a row that was not committed. Prepared once per
        /// connection.
        struct Enqueue: PostgresPreparedStatement {
            static let sql = "CALL stagedoor_enqueue_jobs($1::text[], $2::text[], $3::bigint[], $4::bool[], $5::text[], $6::bytea[], $7::int[], $8::bool, $9::bytea[], $10::bigint[], $11::int[], $12::int[], $13::int[], $14::text[], NULL, NULL, NULL, NULL, NULL)"
            /// One attempt per job, in input order.
            typealias Row = [EnqueueAttempt]

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
                bindings.append(jobs.map { $0.seatCheck?.scheduleID ?? 0 })
                bindings.append(jobs.map { $0.seatCheck?.seatNo ?? 0 })
                bindings.append(jobs.map { $0.seatCheck?.maxHolds ?? 0 })
                bindings.append(jobs.map { $0.seatCheck?.refusal.status ?? 0 })
                bindings.append(jobs.map { $0.seatCheck?.refusal.body ?? "" })
                return bindings
            }

            /// The row's arrays, per job: inserted, its id (0 for none), its gate's status ('' for
            /// none), and the outcome it was stored with when its seat check refused it (status 0 for none).
            func decodeRow(_ row: PostgresRow) throws -> [EnqueueAttempt] {
                let (created, ids, gates, statuses, bodies) = try row.decode(([Bool], [Int64], [String], [Int], [String]).self)
                guard [ids.count, gates.count, statuses.count, bodies.count, created.count].allSatisfy({ $0 == jobs.count }) else {
                    throw JobStoreError.enqueueAnswerMismatch(jobs: jobs.count, answers: created.count)
                }
                return jobs.indices.map { n in
                    EnqueueAttempt(id: ids[n] == 0 ? nil : ids[n], created: created[n],
                                   refusal: QueueTokenRefusal(gateStatus: gates[n].isEmpty ? nil : gates[n]),
                                   outcome: statuses[n] == 0 ? nil : JobOutcome(status: statuses[n], body: bodies[n]))
                }
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
