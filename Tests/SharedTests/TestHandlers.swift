import Logging
import PostgresNIO
import Shared
import Synchronization

/// Writes one row per run into `test_effects`: a duplicated run shows as a duplicated row.
struct EffectHandler: JobHandler {
    let kind = JobKind("effect")

    func run(_ job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> JobOutcome {
        try await connection.query("INSERT INTO test_effects (job_id) VALUES (\(job.id))", logger: logger)
        return JobOutcome(status: 200, body: #"{"ok":true}"#)
    }
}

/// Writes its effect, and the first time it sees `{"stall": true}` stops mid-transaction — signalling
/// `reached` and waiting for `release` — so a test can kill its session at a known point.
final class StallOnceHandler: JobHandler {
    let kind = JobKind("stall_once")
    let stalled = Mutex(false)
    let reached = WakeSignal()
    let release = WakeSignal()

    func run(_ job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> JobOutcome {
        try await connection.query("INSERT INTO test_effects (job_id) VALUES (\(job.id))", logger: logger)
        if job.payload.contains("stall"), stalled.withLock({ done in defer { done = true }; return !done }) {
            reached.signal()
            await release.wait(upTo: .seconds(30))
        }
        return JobOutcome(status: 200, body: "{}")
    }
}

/// Always throws, and remembers when each attempt ran.
final class AlwaysThrowsHandler: JobHandler {
    let kind = JobKind("always_throws")
    /// When each attempt (by its number) first ran: a batch with a throw is rehearsed once without
    /// savepoints, then rerun isolated; the rehearsal is the attempt's start.
    let attempts = Mutex<[Int: ContinuousClock.Instant]>([:])

    struct Boom: Error {}

    func run(_ job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> JobOutcome {
        attempts.withLock { if $0[job.attempts] == nil { $0[job.attempts] = .now } }
        // Leave the transaction dirty too: the savepoint must undo this.
        try await connection.query("INSERT INTO test_effects (job_id) VALUES (\(job.id))", logger: logger)
        throw Boom()
    }
}

extension PostgresClient {
    /// Creates the table the test handlers write into.
    func createEffectsTable() async throws {
        try await query("CREATE TABLE test_effects (job_id bigint NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())")
    }
}

/// Answers `201` with its payload as the body.
struct EchoHandler: JobHandler {
    let kind = JobKind("echo")

    func run(_ job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> JobOutcome {
        JobOutcome(status: 201, body: job.payload)
    }
}

/// Runs its jobs as groups and remembers each group's ids; returns one outcome too few for any
/// group that holds a job with `{"short": true}`, as a buggy batch handler might.
final class GroupingHandler: JobHandler {
    let kind: JobKind
    let groups = Mutex<[[Int64]]>([])

    init(kind: String) { self.kind = JobKind(kind) }

    func run(_ job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> JobOutcome {
        groups.withLock { $0.append([job.id]) }
        return JobOutcome(status: 200, body: #"{"single":true}"#)
    }

    func run(_ jobs: [ClaimedJob], on connection: PostgresConnection, logger: Logger) async throws -> [JobOutcome] {
        groups.withLock { $0.append(jobs.map(\.id)) }
        let outcomes = jobs.map { _ in JobOutcome(status: 200, body: #"{"grouped":true}"#) }
        return jobs.contains { $0.payload.contains("short") } ? Array(outcomes.dropLast()) : outcomes
    }
}

/// Takes 300 ms for a job with `{"slow": true}`, 20 ms for others; records how many batches ran at once at most.
final class OverlapHandler: JobHandler {
    let kind = JobKind("overlap")
    private let state = Mutex((running: 0, most: 0, done: 0))

    var most: Int { state.withLock { $0.most } }
    var done: Int { state.withLock { $0.done } }

    func run(_ job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> JobOutcome {
        state.withLock { $0.running += 1; $0.most = max($0.most, $0.running) }
        defer { state.withLock { $0.running -= 1; $0.done += 1 } }
        try await Task.sleep(for: .milliseconds(job.payload.contains("slow") ? 300 : 20))
        return JobOutcome(status: 200, body: "{}")
    }
}
