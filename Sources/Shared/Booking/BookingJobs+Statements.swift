import NIOCore
import PostgresNIO

extension BookingJobs {
    enum Statements {
        /// Checks and inserts jobs, then commits, in one CALL (`stagedoor_enqueue_booking_jobs`):
        /// the job core's columns, then each job's gate (empty: none), seat check (schedule 0:
        /// none) and room target (schedule or reservation, 0: none). The one row answers per job, in order: created; the id (0: refused by its gate,
        /// or a key race); the gate's status ('' for none, for a pass or a replay); and the outcome
        /// stored when the seat check refused it (status 0 for none). Prepared once per connection.
        struct Enqueue: PostgresPreparedStatement {
            static let sql = "CALL stagedoor_enqueue_booking_jobs($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bytea[], $6::int[], $7::text[], $8::bool, $9::bytea[], $10::bigint[], $11::int[], $12::int[], $13::int[], $14::text[], $15::bigint[], $16::bigint[], NULL, NULL, NULL, NULL, NULL)"
            /// One attempt per job, in input order.
            typealias Row = [JobStore.EnqueueAttempt]

            let jobs: [Guarded]
            let notify: Bool

            func makeBindings() throws -> PostgresBindings {
                var bindings = PostgresBindings()
                JobStore.appendJobColumns(jobs.map(\.job), to: &bindings)
                bindings.append(notify)
                bindings.append(jobs.map { ByteBuffer(bytes: $0.gate ?? []) })
                bindings.append(jobs.map { $0.seatCheck?.scheduleID ?? 0 })
                bindings.append(jobs.map { $0.seatCheck?.seatNo ?? 0 })
                bindings.append(jobs.map { $0.seatCheck?.maxHolds ?? 0 })
                bindings.append(jobs.map { $0.seatCheck?.refusal.status ?? 0 })
                bindings.append(jobs.map { $0.seatCheck?.refusal.body ?? "" })
                bindings.append(jobs.map { job -> Int64 in if case .schedule(let id) = job.room { id } else { 0 } })
                bindings.append(jobs.map { job -> Int64 in if case .reservation(let id) = job.room { id } else { 0 } })
                return bindings
            }

            func decodeRow(_ row: PostgresRow) throws -> [JobStore.EnqueueAttempt] {
                let (created, ids, gates, statuses, bodies) = try row.decode(([Bool], [Int64], [String], [Int], [String]).self)
                guard [ids.count, gates.count, statuses.count, bodies.count, created.count].allSatisfy({ $0 == jobs.count }) else {
                    throw JobStoreError.enqueueAnswerMismatch(jobs: jobs.count, answers: created.count)
                }
                return jobs.indices.map { n in
                    let refused = QueueTokenRefusal(gateStatus: gates[n]) != nil
                    return JobStore.EnqueueAttempt(
                        id: ids[n] == 0 ? nil : ids[n], created: created[n],
                        outcome: statuses[n] == 0 ? nil : JobOutcome(status: statuses[n], body: bodies[n]),
                        declined: refused ? gates[n] : nil)
                }
            }
        }
    }
}
