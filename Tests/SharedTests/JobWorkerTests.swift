import Logging
import PostgresNIO
import Shared
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
}
