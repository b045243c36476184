import AsyncHTTPClient
import Foundation
import Logging
import PostgresNIO
import Shared
import Testing
import TestSupport

/// Reads on a streaming replica of the test PostgreSQL (the test command starts one:
/// `TEST_REPLICA_URL`). Serialized: pausing the replica's replay pauses it for every database.
@Suite("Reads on a streaming replica", .serialized)
struct ReplicaTests {
    static func replicaServer() throws -> DatabaseURL {
        guard let raw = ProcessInfo.processInfo.environment["TEST_REPLICA_URL"], let url = DatabaseURL(parsing: raw) else {
            throw TestSetupError("TEST_REPLICA_URL is not set: run the tests with `make test`, which starts a replica")
        }
        return url
    }

    /// Runs `body` against the replica's superuser session (pause and resume replay there).
    static func onReplica<T: Sendable>(_ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try await TestDatabase.withClient(try replicaServer(), poolSize: 1, body)
    }

    @Test("a paused replica is skipped once it is REPLICA_MAX_LAG behind, and used again after it resumes")
    func pausedReplicaIsSkipped() async throws {
        let replica = try Self.replicaServer()
        try await TestDatabase.withDatabase(poolSize: 4) { primary, url in
            let replicas = Replicas(urls: [replica.with(database: url.database)], primary: primary, maxLag: .seconds(2),
                                    poolSize: 2, process: "test", interval: .milliseconds(50), logger: Logger(label: "test.replicas"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await replicas.run() }
                defer { group.cancelAll() }
                // A write a tenth of a second, so the primary's position moves on.
                try await primary.query("CREATE TABLE ticks (n int)")
                group.addTask {
                    while !Task.isCancelled {
                        try await primary.query("INSERT INTO ticks VALUES (1)")
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
                // (A replica replays every test database's creation: under the whole suite it can lag seconds.)
                #expect(await eventually(timeout: .seconds(60)) { replicas.freshness == [true] }, "never fresh")
                #expect(replicas.pick() != nil)
                _ = try await Self.onReplica { try await $0.query("SELECT pg_wal_replay_pause()") }
                // Skipped once it is 2 s behind (sooner when it already lagged at the pause), within a few monitor rounds.
                #expect(await eventually(timeout: .seconds(20)) { replicas.freshness == [false] }, "a paused replica stayed in use")
                #expect(replicas.pick() == nil)
                _ = try await Self.onReplica { try await $0.query("SELECT pg_wal_replay_resume()") }
                #expect(await eventually(timeout: .seconds(60)) { replicas.freshness == [true] }, "not used again after resuming")
            }
        }
    }

    @Test("a gateway with a replica reads from it, and its replica sessions cut again and again under a stream of reads cost no failed request")
    func gatewayReadsThroughAReplica() async throws {
        let replica = try Self.replicaServer()
        let url = try await TestDatabase.create(migrated: true)
        defer { Task { try? await TestDatabase.drop(url.database) } }
        let gateway = try RunningProcess("stagedoor-gateway", environment: [
            "DATABASE_URL": url.urlString, "DATABASE_REPLICA_URLS": replica.with(database: url.database).urlString,
            "REPLICA_MAX_LAG": "3", "PORT": "0", "ADMIN_KEY": "replica-admin", "RATE_LIMIT": "0",
        ])
        defer { gateway.send(SIGKILL) }
        _ = await eventually(timeout: .seconds(60)) { MetricsTests.listeningPort(gateway.output) != nil }
        let port = try #require(MetricsTests.listeningPort(gateway.output), "\(gateway.output)")
        let api = "http://127.0.0.1:\(port)"
        #expect(await eventually(timeout: .seconds(60)) { gateway.output.contains("replica fresh: reading from it") }, "\(gateway.output)")
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            for n in 1...5 {
                let concert = try await MetricsTests.call(http, .POST, "\(api)/v1/admin/concerts", bearer: "replica-admin",
                                                          body: #"{"title": "R\#(n)", "artist": "A", "schedules": [{"startsAt": "2030-01-01T20:00:00Z", "price": 10, "seats": 5}]}"#)
                #expect(concert.status == 201, "\(concert.body)")
            }
            // Within REPLICA_MAX_LAG a replica may not have them yet; past it, every read does.
            try await Task.sleep(for: .milliseconds(3500))
            #expect((try await MetricsTests.call(http, .GET, "\(api)/v1/concerts")).json["concerts"].map { ($0 as? [Any])?.count } == 5)
            // The replica's sessions are the gateway's read traffic: they exist, and served reads.
            let replicaReads = try await Self.onReplica { client in
                try await client.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'stagedoor-gateway-replica'")
                    .decode(Int64.self).reduce(0, +)
            }
            #expect(replicaReads > 0)
            // The replica's sessions are cut, again and again, under a stream of reads: none fails.
            let failures = try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask {
                    for _ in 0..<10 {
                        _ = try await Self.onReplica { client in
                            try await client.query("""
                                SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'stagedoor-gateway-replica'
                                """)
                        }
                        try await Task.sleep(for: .milliseconds(150))
                    }
                    return 0
                }
                for _ in 0..<4 {
                    group.addTask {
                        var failed = 0
                        for _ in 0..<40 {
                            let reply = try await MetricsTests.call(http, .GET, "\(api)/v1/concerts")
                            if reply.status != 200 || (reply.json["concerts"] as? [Any])?.count != 5 { failed += 1 }
                        }
                        return failed
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(failures == 0)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
        gateway.send(SIGTERM)
        #expect(await gateway.waitForExit() == 0, "\(gateway.output)")
    }
}
