import Foundation
import HTTPTypes
import Logging
import PostgresNIO
import Shared
import Synchronization
import Testing
import TestSupport

/// The operator API for jobs (docs/api.md, *Operator API*): dead jobs listed, retried, discarded;
/// the queue's counts.
@Suite("Operator API: jobs and stats")
struct OperatorJobsTests {
    static let admin: HTTPFields = [.authorization: "Bearer sesame"]

    /// Fails with a database error (whose SQL must not reach `lastError`) until `healed`; then
    /// records one effect per run in `test_effects`, in the job's transaction.
    final class FlakyHandler: JobHandler {
        let kind = JobKind("flaky")
        let healed = Atomic<Bool>(false)

        func run(_ job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> JobOutcome {
            guard healed.load(ordering: .relaxed) else {
                try await connection.run("SELECT * FROM no_such_table WHERE secret = \("sesame-secret")", logger: logger)
                return JobOutcome(status: 500, body: "{}")
            }
            try await connection.run("INSERT INTO test_effects (job_id) VALUES (\(job.id))", logger: logger)
            return JobOutcome(status: 201, body: "{}")
        }
    }

    @Test("a job that keeps failing is dead and listed without its SQL; retried, it succeeds exactly once; discard removes only the dead")
    func deadJobRetried() async throws {
        try await TestGateway.run(["ADMIN_KEY": "sesame"]) { api, db in
            try await db.query("CREATE TABLE test_effects (job_id bigint NOT NULL)")
            try await db.query("INSERT INTO jobs (kind, payload, max_attempts) VALUES ('flaky', '{}', 2), ('flaky', '{}', 1), ('other', '{}', 3)")
            let handler = FlakyHandler()
            let runner = JobRunner(client: db, handlers: [handler], batchSize: 10,
                                   retry: RetryPolicy(base: .milliseconds(50), cap: .milliseconds(100)), logger: Logger(label: "test.flaky"))
            let bothDead = try await eventually(timeout: .seconds(20)) {
                _ = try await runner.runBatch()
                return try await db.scalar("SELECT count(*) FROM jobs WHERE state = 'dead'", as: Int64.self) == 2
            }
            #expect(bothDead)

            let list = try await api.call(.get, "/v1/admin/jobs?state=dead", headers: Self.admin)
            #expect(list.status == 200)
            let jobs = try #require(list.json["jobs"] as? [[String: Any]])
            #expect(jobs.count == 2)
            let ids = jobs.compactMap { ($0["jobId"] as? NSNumber)?.int64Value }
            #expect(ids == ids.sorted(by: >), "newest first")
            for job in jobs {
                #expect(job["state"] as? String == "dead" && job["kind"] as? String == "flaky")
                let error = try #require(job["lastError"] as? String)
                #expect(error.hasPrefix("database_error: 42P01"), "\(error)")
                #expect(!error.contains("SELECT") && !error.contains("sesame"), "\(error)")
            }
            let stats = try await api.call(.get, "/v1/admin/stats", headers: Self.admin)
            let counts = try #require(stats.json["jobs"] as? [String: Any])
            #expect(counts["dead"] as? Int == 2 && counts["queued"] as? Int == 1 && counts["running"] as? Int == 0)
            #expect((stats.json["rooms"] as? [Any])?.isEmpty == false)
            let other = try await api.call(.get, "/v1/admin/jobs?state=queued&kind=other", headers: Self.admin)
            #expect((other.json["jobs"] as? [[String: Any]])?.map { $0["kind"] as? String } == ["other"])

            // Retry the first; it runs once the handler is healed, exactly once.
            let (retried, discarded) = (ids[1], ids[0])
            let retry = try await api.call(.post, "/v1/admin/jobs/\(retried)/retry", headers: Self.admin)
            #expect(retry.status == 200 && retry.json["state"] as? String == "queued" && retry.json["attempts"] as? Int == 0)
            ErrorPathTests.expectProblem(try await api.call(.post, "/v1/admin/jobs/\(retried)/retry", headers: Self.admin), 409, "job_not_dead")
            handler.healed.store(true, ordering: .relaxed)
            let done = try await eventually(timeout: .seconds(10)) {
                _ = try await runner.runBatch()
                return try await db.scalar("SELECT count(*) FROM jobs WHERE id = \(retried) AND state = 'succeeded'", as: Int64.self) == 1
            }
            #expect(done)
            for _ in 0..<3 { _ = try await runner.runBatch() }
            #expect(try await db.scalar("SELECT count(*) FROM test_effects WHERE job_id = \(retried)", as: Int64.self) == 1)

            // Discard: only a dead job; then it is gone.
            ErrorPathTests.expectProblem(try await api.call(.delete, "/v1/admin/jobs/\(retried)", headers: Self.admin), 409, "job_not_dead")
            #expect(try await api.call(.delete, "/v1/admin/jobs/\(discarded)", headers: Self.admin).status == 204)
            #expect(try await db.scalar("SELECT count(*) FROM jobs WHERE id = \(discarded)", as: Int64.self) == 0)
            ErrorPathTests.expectProblem(try await api.call(.delete, "/v1/admin/jobs/\(discarded)", headers: Self.admin), 404, "not_found")
            ErrorPathTests.expectProblem(try await api.call(.post, "/v1/admin/jobs/999999/retry", headers: Self.admin), 404, "not_found")

            // Bad input and no key.
            for query in ["state=succeeded", "limit=0", "limit=501", "before=-1", "before=x", "kind=%20"] {
                ErrorPathTests.expectProblem(try await api.call(.get, "/v1/admin/jobs?\(query)", headers: Self.admin), 400, "invalid_request")
            }
            ErrorPathTests.expectProblem(try await api.call(.get, "/v1/admin/jobs"), 401, "unauthorized")
            ErrorPathTests.expectProblem(try await api.call(.get, "/v1/admin/stats"), 401, "unauthorized")
        }
    }

    @Test("stats count a job a worker holds in its open transaction as running, not queued")
    func runningJobs() async throws {
        try await TestGateway.run(["ADMIN_KEY": "sesame"]) { api, db in
            try await db.query("INSERT INTO jobs (kind, payload) SELECT 'noop', '{}' FROM generate_series(1, 5)")
            try await db.withConnection { connection in
                try await connection.run("BEGIN", logger: Logger(label: "test"))
                var claimed = 0
                for try await _ in try await connection.query("SELECT id FROM stagedoor_claim_jobs(2)", logger: Logger(label: "test")) { claimed += 1 }
                try #require(claimed == 2)
                // (Once in a CI run under the whole suite the first read counted 5 queued, 0 running: read
                // until it agrees, and say what it said.)
                var counts: [String: Any] = [:]
                let agreed = await eventually(timeout: .seconds(5), every: .milliseconds(100)) {
                    counts = (try? await api.call(.get, "/v1/admin/stats", headers: Self.admin))?.json["jobs"] as? [String: Any] ?? [:]
                    return counts["running"] as? Int == 2 && counts["queued"] as? Int == 3
                }
                #expect(agreed, "\(counts)")
                try await connection.run("ROLLBACK", logger: Logger(label: "test"))
            }
            let after = try await api.call(.get, "/v1/admin/stats", headers: Self.admin)
            #expect((after.json["jobs"] as? [String: Any])?["queued"] as? Int == 5)
        }
    }
}
