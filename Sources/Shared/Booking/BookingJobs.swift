import Logging
import PostgresNIO

/// The gateway's enqueue: the job core's insert behind the booking checks — the queue gate and the
/// seat check — in one statement and one commit per batch (`stagedoor_enqueue_booking_jobs`).
///
/// The checks are booking rules, so they live here and in that procedure, never in the job core;
/// the job core still decides replays, inserts, and wakes the workers.
public struct BookingJobs: Sendable {
    /// A job with the checks its enqueue makes.
    struct Guarded: Sendable {
        let job: NewJob
        let gate: [UInt8]?
        let room: RoomTarget?
        let seatCheck: SeatCheck?
    }

    let jobs: JobStore
    /// Concurrent enqueues leave together: one statement, one commit and one wake-up per batch.
    private let enqueues: Batcher<Guarded, JobStore.EnqueueAttempt>

    /// Enqueues through `jobs` (its client, wake-up coalescer and reads).
    public init(jobs: JobStore) {
        self.jobs = jobs
        enqueues = Batcher(maxBatch: 64, maxInFlight: 1) { [jobs] batch in
            try await JobStore.withWakeUp(jobs.coalescer) { notify in
                try await jobs.client.callCommitting(Statements.Enqueue(jobs: batch, notify: notify), logger: jobs.logger)
            }
        }
    }

    /// The answer to a booking enqueue.
    public enum EnqueueResult: Sendable, Equatable {
        /// A new job was inserted.
        case created(id: Int64)
        /// A new job was inserted already finished with this outcome: its ``SeatCheck`` refused it.
        case finished(id: Int64, outcome: JobOutcome)
        /// A job with the same user, kind and idempotency key already exists (whatever the gate says now).
        case existing(JobRecord)
        /// The job's queue gate refused it; nothing was inserted.
        case refused(QueueTokenRefusal)
    }

    /// Enqueues `job`: with a `gate` (a queue token's secret hash), only if that token is the job's
    /// user's and active, and — with a `room` target that exists — of the room gating that target's
    /// concert; with a `seatCheck` that sees the seat taken, stored finished with its refusal. A replay
    /// of an idempotency key is answered before any check (docs/api.md's order). With a `limit`,
    /// throws ``DeadlineExceeded`` once that much time has passed.
    public func enqueue(_ job: NewJob, gate: [UInt8]? = nil, room: RoomTarget? = nil, seatCheck: SeatCheck? = nil,
                        within limit: Duration? = nil) async throws -> EnqueueResult {
        let guarded = Guarded(job: job, gate: gate, room: room, seatCheck: seatCheck)
        let result = try await jobs.enqueue(job, within: limit) { _, left in try await enqueues.submit(guarded, within: left) }
        switch result {
        case .created(let id): return .created(id: id)
        case .finished(let id, let outcome): return .finished(id: id, outcome: outcome)
        case .existing(let record): return .existing(record)
        case .declined(let gate): return .refused(QueueTokenRefusal(gateStatus: gate) ?? .invalid)
        }
    }
}

/// What the enqueue checks for a job that would hold a seat. When the statement's snapshot shows the
/// worker would refuse the job with `seat_unavailable` — the schedule exists, the seat is in its
/// range, the user holds fewer than `maxHolds` live seats in the schedule (else the worker refuses
/// with the hold limit first), and the seat is sold or held by a live hold — the job is stored
/// finished with `refusal`, and no worker is woken for it. Otherwise it is queued as usual: the
/// check can only refuse, never grant.
public struct SeatCheck: Sendable {
    public var scheduleID: Int64
    public var seatNo: Int
    public var maxHolds: Int
    /// The outcome to store: the worker's own `seat_unavailable` refusal, byte for byte.
    public var refusal: JobOutcome

    public init(scheduleID: Int64, seatNo: Int, maxHolds: Int, refusal: JobOutcome) {
        self.scheduleID = scheduleID
        self.seatNo = seatNo
        self.maxHolds = maxHolds
        self.refusal = refusal
    }
}

/// What a queue-gated job is about, whose concert's room its token must be of: a schedule (a seat
/// hold) or one of the user's reservations (a payment). One that does not exist is left to the
/// worker's `404` (docs/api.md checks existence before the room).
public enum RoomTarget: Sendable, Equatable {
    case schedule(Int64)
    case reservation(Int64)
}

/// Why the queue gate of a booking enqueue refused a job.
public enum QueueTokenRefusal: Sendable, Equatable {
    /// No token has that secret, or it is another user's.
    case invalid
    /// The user's token is not active: its status as clients see it (`waiting`, `expired`, `done`).
    case notActive(status: String)
    /// The token is active but of another room than the one gating the job's concert (`roomID`).
    case wrongRoom(roomID: Int64)

    /// The gate's answer as the enqueue statement reports it: nil when there was no gate or it passed.
    init?(gateStatus: String?) {
        switch gateStatus {
        case nil, "", "active": return nil
        case "invalid": self = .invalid
        case let status? where status.hasPrefix("room:"):
            guard let room = Int64(status.dropFirst(5)) else { return nil }
            self = .wrongRoom(roomID: room)
        case let status?: self = .notActive(status: status)
        }
    }
}
