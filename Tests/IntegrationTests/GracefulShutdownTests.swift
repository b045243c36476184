import Foundation
import Logging
import PostgresNIO
import Shared
import Testing
import TestSupport

@Suite("Graceful shutdown of a payment worker")
struct GracefulShutdownTests {
    @Test("SIGTERM in the middle of a batch: the batch commits, the process exits 0, every job runs exactly once")
    func sigtermMidBatch() async throws {
        let url = try await TestDatabase.create(migrated: true)
        defer { Task { try? await TestDatabase.drop(url.database) } }
        try await TestDatabase.withClient(url) { client in
            let logger = Logger(label: "test.shutdown")
            try await client.query("INSERT INTO users (name, api_key_hash) SELECT 'u' || n, sha256(('k' || n)::bytea) FROM generate_series(1, 20) n")
            try await client.query("INSERT INTO wallets (user_id) SELECT id FROM users")
            var users: [Int64] = []
            for try await id in try await client.query("SELECT id FROM users ORDER BY id").decode(Int64.self) { users.append(id) }
            let jobs = JobStore(client: client, logger: logger)
            for round in 1...10 {
                for user in users {
                    let payload = try String(decoding: JSONEncoder().encode(ChargePointsPayload(userId: user, amount: Int64(round))), as: UTF8.self)
                    _ = try await jobs.enqueue(NewJob(kind: .chargePoints, payload: payload, userID: user))
                }
            }
            // Hold the last user's wallet, so a batch that reaches one of their charges waits mid-batch.
            let blocked = try #require(users.last)
            try await client.withConnection { holder in
                try await holder.run("BEGIN", logger: logger)
                try await holder.run("SELECT 1 FROM wallets WHERE user_id = \(blocked) FOR UPDATE", logger: logger)
                let worker = try RunningProcess("stagedoor-payment-worker", environment: [
                    "DATABASE_URL": url.urlString, "WORKER_BATCH": "50", "WORKER_CONCURRENCY": "1", "LOG_LEVEL": "info",
                ])
                // The worker's batch is inside its transaction, waiting on our lock.
                let waiting = await Self.sessionsWaitingOnLocks(client, url) == 1
                try #require(waiting, "the worker never blocked mid-batch: \(worker.output)")
                let finishedBefore = try await client.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'", as: Int64.self)
                worker.send(SIGTERM)
                try await Task.sleep(for: .milliseconds(500))
                #expect(worker.isRunning, "it must finish the batch in hand, not drop it")
                try await holder.run("COMMIT", logger: logger)
                #expect(await worker.waitForExit(timeout: .seconds(30)) == 0, "\(worker.output)")
                let finishedAfter = try #require(try await client.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'", as: Int64.self))
                #expect(finishedAfter > (finishedBefore ?? 0), "the batch in hand was committed")
                #expect(finishedAfter < 200, "it stopped taking batches after SIGTERM")
            }
            // A second worker runs what is left; every charge ran exactly once.
            let second = try RunningProcess("stagedoor-payment-worker", environment: ["DATABASE_URL": url.urlString])
            let drained = await eventually(timeout: .seconds(60)) {
                (try? await client.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'", as: Int64.self)) == 200
            }
            #expect(drained, "\(second.output)")
            second.send(SIGTERM)
            #expect(await second.waitForExit() == 0)
            #expect(try await client.scalar("SELECT count(*) FROM point_history", as: Int64.self) == 200)
            #expect(try await client.scalar("SELECT count(*) FROM wallets WHERE balance <> 55", as: Int64.self) == 0)
        }
    }

    @Test("a drain stuck past SHUTDOWN_TIMEOUT: the worker says what still runs and exits 1 in time; its batch rolls back and runs once elsewhere")
    func stuckDrainIsBounded() async throws {
        let url = try await TestDatabase.create(migrated: true)
        defer { Task { try? await TestDatabase.drop(url.database) } }
        try await TestDatabase.withClient(url) { client in
            let logger = Logger(label: "test.shutdown")
            let user = try #require(try await client.scalar(
                "INSERT INTO users (name, api_key_hash) VALUES ('u', sha256('k')) RETURNING id", as: Int64.self))
            try await client.query("INSERT INTO wallets (user_id) VALUES (\(user))")
            let payload = try String(decoding: JSONEncoder().encode(ChargePointsPayload(userId: user, amount: 7)), as: UTF8.self)
            _ = try await JobStore(client: client, logger: logger).enqueue(NewJob(kind: .chargePoints, payload: payload, userID: user))
            try await client.withConnection { holder in
                // The wallet stays locked past the timeout: the charge cannot finish.
                try await holder.run("BEGIN", logger: logger)
                try await holder.run("SELECT 1 FROM wallets WHERE user_id = \(user) FOR UPDATE", logger: logger)
                let worker = try RunningProcess("stagedoor-payment-worker", environment: [
                    "DATABASE_URL": url.urlString, "WORKER_CONCURRENCY": "1", "SHUTDOWN_TIMEOUT": "2", "LOG_LEVEL": "info",
                ])
                let waiting = await Self.sessionsWaitingOnLocks(client, url) == 1
                try #require(waiting, "the worker never blocked on the wallet: \(worker.output)")
                let signalled = ContinuousClock.now
                worker.send(SIGTERM)
                let status = await worker.waitForExit(timeout: .seconds(15))
                #expect(status == 1, "\(worker.output)")
                #expect(ContinuousClock.now - signalled < .seconds(10))
                #expect(worker.output.contains("shutdown did not end within 2.0 seconds; still running:"), "\(worker.output)")
                #expect(worker.output.contains("JobWorker"), "\(worker.output)")
                // Its session is gone, and with it the claim: the job is queued again, not run.
                let released = await eventually(timeout: .seconds(10)) {
                    (try? await client.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = \(url.database) AND wait_event_type = 'Lock'",
                                              as: Int64.self)) == 0
                }
                #expect(released)
                #expect(try await client.scalar("SELECT count(*) FROM jobs WHERE state = 'queued'", as: Int64.self) == 1)
                try await holder.run("COMMIT", logger: logger)
            }
            let second = try RunningProcess("stagedoor-payment-worker", environment: ["DATABASE_URL": url.urlString])
            let done = await eventually(timeout: .seconds(60)) {
                (try? await client.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'", as: Int64.self)) == 1
            }
            #expect(done, "\(second.output)")
            second.send(SIGTERM)
            #expect(await second.waitForExit() == 0)
            #expect(try await client.scalar("SELECT balance FROM wallets WHERE user_id = \(user)", as: Int64.self) == 7)
            #expect(try await client.scalar("SELECT count(*) FROM point_history", as: Int64.self) == 1)
        }
    }

    /// How many sessions of the test's database wait on a lock, once one does (or after 60 s).
    static func sessionsWaitingOnLocks(_ client: PostgresClient, _ url: DatabaseURL) async -> Int64? {
        let count = { try? await client.scalar("""
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = \(url.database) AND wait_event_type = 'Lock' AND state = 'active'
            """, as: Int64.self) }
        _ = await eventually(timeout: .seconds(60)) { await count() == 1 }
        return await count()
    }
}
