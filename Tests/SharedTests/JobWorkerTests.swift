import Logging
import PostgresNIO
import Shared
import Synchronization
import Testing
import TestSupport

@Suite("Claim loops: the first takes every wake-up; the others join only on a backlog")
struct JobWorkerTests {
    let logger = Logger(label: "test.worker")

    @Test("jobs arriving during a batch wait for the next one, not for another loop; a backlog of full batches brings the other loops in")
    func helpersJoinOnBacklog() async throws {
        try await TestDatabase.withDatabase { client, _ in
            let handler = OverlapHandler()
            let wake = WakeSignal()
            let runner = JobRunner(client: client, handlers: [handler], batchSize: 5, logger: logger)
            let worker = JobWorker(runner: runner, wake: wake, concurrency: 3, pollInterval: .seconds(30), logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                // A slow job, and while it runs three more, each with its own wake-up: fewer than a batch.
                try await client.query("INSERT INTO jobs (kind, payload) VALUES ('overlap', '{\"slow\": true}')")
                wake.signal()
                try await Task.sleep(for: .milliseconds(50))
                for _ in 1...3 {
                    try await client.query("INSERT INTO jobs (kind, payload) VALUES ('overlap', '{}')")
                    wake.signal()
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(await eventually { handler.done == 4 })
                #expect(handler.most == 1)
                // A backlog of 20 full batches.
                try await client.query("INSERT INTO jobs (kind, payload) SELECT 'overlap', '{}' FROM generate_series(1, 100)")
                wake.signal()
                #expect(await eventually(timeout: .seconds(30)) { handler.done == 104 })
                #expect(handler.most > 1)
                group.cancelAll()
            }
        }
    }

    @Test("a loop claims its next batch while the one before commits, never a third before that commit; every job runs once")
    func nextBatchOverlapsTheCommit() async throws {
        try await TestDatabase.withDatabase { client, _ in
            // A batch's finish waits, inside its transaction, while the test holds advisory lock 4242.
            try await client.query("""
                CREATE FUNCTION held_finish() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN PERFORM pg_advisory_lock_shared(4242); PERFORM pg_advisory_unlock_shared(4242); RETURN NULL; END $$
                """)
            try await client.query("""
                CREATE TRIGGER held_finish AFTER UPDATE ON jobs FOR EACH STATEMENT EXECUTE FUNCTION held_finish()
                """)
            let probe = CommitProbe(client: client)
            let runner = JobRunner(client: client, handlers: [probe], batchSize: 2, logger: logger)
            let worker = JobWorker(runner: runner, wake: WakeSignal(), concurrency: 1, pollInterval: .seconds(30), logger: logger)
            try await client.query("INSERT INTO jobs (kind, payload) SELECT 'commit_probe', '{}' FROM generate_series(1, 6)")
            try await client.withConnection { holder in
                try await holder.query("SELECT pg_advisory_lock(4242)")
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await worker.run() }
                    // Batch 2 runs while batch 1 cannot commit …
                    #expect(await eventually { probe.seen[2] != nil })
                    // … and no third batch starts before it has.
                    try await Task.sleep(for: .milliseconds(500))
                    #expect(probe.seen[3] == nil)
                    try await holder.query("SELECT pg_advisory_unlock(4242)")
                    let allCommitted = try await eventually {
                        var succeeded = 0
                        for try await count in try await client.query("SELECT count(*)::int FROM jobs WHERE state = 'succeeded'").decode(Int.self) {
                            succeeded = count
                        }
                        return succeeded == 6
                    }
                    #expect(allCommitted)
                    group.cancelAll()
                }
            }
            let seen = probe.seen
            #expect(seen[2] == [1: "queued", 2: "queued", 3: "queued", 4: "queued", 5: "queued", 6: "queued"])
            // Batch 3 came after batch 1's commit (batch 2's may or may not have followed by then).
            #expect(seen[3]?[1] == "succeeded" && seen[3]?[2] == "succeeded" && seen[3]?[5] == "queued" && seen[3]?[6] == "queued")
            let runs = try await client.query("SELECT count(*)::int, count(DISTINCT id)::int FROM jobs WHERE state = 'succeeded' AND attempts = 1")
            for try await (count, distinct) in runs.decode((Int, Int).self) {
                #expect(count == 6 && distinct == 6)
            }
        }
    }
}

/// Records, for each batch it runs (numbered by its first job's id), every job's state as another
/// session sees it then: what had been committed.
final class CommitProbe: JobHandler {
    let kind = JobKind("commit_probe")
    let client: PostgresClient
    private let states = Mutex<[Int: [Int64: String]]>([:])

    init(client: PostgresClient) { self.client = client }

    var seen: [Int: [Int64: String]] { states.withLock { $0 } }

    func run(_ job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> JobOutcome {
        guard job.id % 2 == 1 else { return JobOutcome(status: 200, body: "{}") }
        var committed: [Int64: String] = [:]
        for try await (id, state) in try await client.query("SELECT id, state FROM jobs").decode((Int64, String).self) {
            committed[id] = state
        }
        states.withLock { $0[Int(job.id + 1) / 2] = committed }
        return JobOutcome(status: 200, body: "{}")
    }
}
