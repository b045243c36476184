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

    /// Runs `script` in bash with scripts/postgres.sh's functions (PG_BIN set), from the checkout's top.
    static func postgresScript(_ script: String) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        // The descriptors bash inherits are closed first: Foundation learns of the exit from one of
        // them, and a server the script starts would hold it open (and the script never end).
        let closeInherited = #"for fd in /proc/$$/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-" 2>/dev/null; done; "#
        process.arguments = ["-c", closeInherited + ". scripts/postgres.sh && pg_ensure_installed && " + script]
        process.currentDirectoryURL = Checkout.root
        try process.run()
        // Polled, not waitUntilExit(): that waits on a run loop, which a task on the cooperative pool never runs.
        guard await eventually(timeout: .seconds(120), every: .milliseconds(50), { !process.isRunning }) else {
            throw TestSetupError("`\(script)` did not end within 120 s")
        }
        guard process.terminationStatus == 0 else { throw TestSetupError("`\(script)` exited \(process.terminationStatus)") }
    }

    /// The replica's data directory (`TEST_REPLICA_DATA`, set by the test command), to stop and start it.
    static func replicaDataDirectory() throws -> String {
        guard let path = ProcessInfo.processInfo.environment["TEST_REPLICA_DATA"] else {
            throw TestSetupError("TEST_REPLICA_DATA is not set: run the tests with `make test`, which starts a replica")
        }
        return path
    }

    /// A gateway on `url` that reads from `replica`, listening, and reading from the replica (it says
    /// so once the replica is REPLICA_MAX_LAG fresh); with its base URL.
    static func gateway(on url: DatabaseURL, replica: DatabaseURL, settings: [String: String]) async throws -> (RunningProcess, String) {
        let gateway = try RunningProcess("stagedoor-gateway", environment: [
            "DATABASE_URL": url.urlString, "DATABASE_REPLICA_URLS": replica.with(database: url.database).urlString,
            "PORT": "0", "RATE_LIMIT": "0",
        ].merging(settings) { _, setting in setting })
        _ = await eventually(timeout: .seconds(60)) { MetricsTests.listeningPort(gateway.output) != nil }
        let port = try #require(MetricsTests.listeningPort(gateway.output), "\(gateway.output)")
        try #require(await eventually(timeout: .seconds(90)) { gateway.output.contains("replica fresh: reading from it") }, "\(gateway.output)")
        return (gateway, "http://127.0.0.1:\(port)")
    }

    /// One client reading `GET /v1/concerts` (five concerts) while `more(reads so far)`: how many
    /// answers were not those five, of how many reads.
    static func readConcerts(_ http: HTTPClient, _ api: String, while more: @Sendable (Int) -> Bool) async throws -> (failed: Int, reads: Int) {
        var failed = 0, reads = 0
        while more(reads) {
            let reply = try await MetricsTests.call(http, .GET, "\(api)/v1/concerts")
            if reply.status != 200 || (reply.json["concerts"] as? [Any])?.count != 5 { failed += 1 }
            reads += 1
        }
        return (failed, reads)
    }

    /// Waits until the replica has replayed `database`'s creation (under the whole suite it can lag
    /// seconds): a gateway started before that backs off its replica connections for longer still.
    static func awaitReplay(of database: String) async throws {
        let replayed = try await eventually(timeout: .seconds(60)) {
            try await onReplica { try await $0.scalar("SELECT count(*) FROM pg_database WHERE datname = \(database)", as: Int64.self) } == 1
        }
        try #require(replayed, "the replica never replayed the creation of \(database)")
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

    @Test("positions polled from a lagging replica are never below the primary's; a stream that starts there never rises; a job it lacks is read on the primary")
    func laggingReplicaOverstatesOnly() async throws {
        let replica = try Self.replicaServer()
        let url = try await TestDatabase.create(migrated: true)
        defer { Task { try? await TestDatabase.drop(url.database) } }
        try await Self.awaitReplay(of: url.database)
        try await TestDatabase.withClient(url) { db in
            try await db.query("UPDATE rooms SET state = 'paused' WHERE id = 1")
            // A replica is fresh once it has replayed what the primary wrote REPLICA_MAX_LAG ago: the
            // gateway starts using it after that long, and a paused one stays in use for that long,
            // lagging — longer than the test needs once it pauses.
            let (gateway, api) = try await Self.gateway(on: url, replica: replica, settings: ["REPLICA_MAX_LAG": "20", "REPLY_TIMEOUT": "0.2"])
            var queueWorker: RunningProcess?
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            var paused = false
            var step = "setup"
            do {
                let fans = 40
                var credentials: [(key: String, token: String)] = []
                for n in 0..<fans {
                    let user = try await MetricsTests.call(http, .POST, "\(api)/v1/users", body: #"{"name": "lag\#(n)"}"#)
                    let key = try #require(user.json["apiKey"] as? String)
                    let token = try await MetricsTests.call(http, .POST, "\(api)/v1/queue/tokens", bearer: key)
                    credentials.append((key, try #require(token.json["token"] as? String)))
                }
                // The replica has every token; then its replay stops, and admission runs on the primary.
                #expect(try await eventually(timeout: .seconds(60)) {
                    try await TestDatabase.withClient(replica.with(database: url.database), poolSize: 1) {
                        try await $0.scalar("SELECT count(*) FROM queue_tokens", as: Int64.self)
                    } == Int64(fans)
                })
                _ = try await Self.onReplica { try await $0.query("SELECT pg_wal_replay_pause()") }
                paused = true
                try await db.query("UPDATE rooms SET state = 'open' WHERE id = 1")
                queueWorker = try RunningProcess("stagedoor-queue-worker", environment: [
                    "DATABASE_URL": url.urlString, "ADMIT_PER_SECOND": "8", "QUEUE_TICK": "0.2",
                ])
                #expect(try await eventually(timeout: .seconds(30)) {
                    (try await db.scalar("SELECT admitted_through FROM rooms WHERE id = 1", as: Int64.self) ?? 0) >= 10
                })
                // Each poll beside the primary's truth read just after it (the truth only shortens meanwhile).
                for fan in credentials {
                    let poll = try await MetricsTests.call(http, .GET, "\(api)/v1/queue/tokens/current", bearer: fan.key,
                                                           queueToken: fan.token)
                    #expect(poll.status == 200, "\(poll.body)")
                    let shown = (poll.json["position"] as? Int).map(Int64.init) ?? -1
                    let truth = try #require(try await db.scalar("""
                        SELECT CASE WHEN t.status = 'waiting' THEN greatest(1, t.place - r.admitted_through) ELSE 0 END
                        FROM queue_tokens t JOIN rooms r ON r.id = t.room_id
                        WHERE t.token_hash = sha256(convert_to(\(fan.token), 'UTF8'))
                        """, as: Int64.self))
                    #expect(shown >= truth, "position \(shown) polled, \(truth) on the primary")
                    // The replica answered, not the primary: it still shows the room as it was at the pause.
                    #expect(poll.json["roomState"] as? String == "paused", "\(poll.body)")
                }
                // A stream whose first event comes from the replica: its positions fall to active, never rise.
                let last = try #require(credentials.last)
                var request = HTTPClientRequest(url: "\(api)/v1/queue/tokens/current/events")
                request.headers.add(name: "Authorization", value: "Bearer \(last.key)")
                request.headers.add(name: "X-Queue-Token", value: last.token)
                step = "stream"
                let response = try await http.execute(request, timeout: .seconds(60))
                let events = tokenEvents(in: String(buffer: try await response.body.collect(upTo: 1 << 20)))
                #expect(events.last?.json["status"] as? String == "active")
                let positions = events.compactMap { $0.json["position"] as? Int }
                #expect(zip(positions, positions.dropFirst()).allSatisfy { $0 >= $1 }, "positions rose: \(positions)")
                // A job the paused replica has never seen (no payment worker: it stays queued) is read on the primary.
                step = "charge"
                let charge = try await MetricsTests.call(http, .POST, "\(api)/v1/points/charge", bearer: last.key, body: #"{"amount": 5}"#)
                #expect(charge.status == 202, "\(charge.body)")
                let jobID = try #require(charge.json["jobId"] as? Int, "\(charge.body)")
                step = "job"
                let job = try await MetricsTests.call(http, .GET, "\(api)/v1/jobs/\(jobID)", bearer: last.key)
                #expect(job.status == 200 && job.json["status"] as? String == "queued", "\(job.body)")
            } catch {
                Issue.record(error, "at \(step): \(gateway.output.suffix(4000))")
            }
            if paused { _ = try await Self.onReplica { try await $0.query("SELECT pg_wal_replay_resume()") } }
            try? await http.shutdown()
            for process in [gateway] + (queueWorker.map { [$0] } ?? []) { process.send(SIGTERM) }
            for process in [gateway] + (queueWorker.map { [$0] } ?? []) { #expect(await process.waitForExit() == 0, "\(process.output)") }
        }
    }

    @Test("a gateway with a replica reads from it; its replica sessions cut again and again, and then the replica stopped at once, under a stream of reads cost no failed request; restarted, it is read from again")
    func gatewayReadsThroughAReplica() async throws {
        let replica = try Self.replicaServer()
        let url = try await TestDatabase.create(migrated: true)
        defer { Task { try? await TestDatabase.drop(url.database) } }
        try await Self.awaitReplay(of: url.database)
        let (gateway, api) = try await Self.gateway(on: url, replica: replica, settings: ["REPLICA_MAX_LAG": "3", "ADMIN_KEY": "replica-admin"])
        defer { gateway.send(SIGKILL) }
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
                    group.addTask { try await Self.readConcerts(http, api, while: { reads in reads < 40 }).failed }
                }
                return try await group.reduce(0, +)
            }
            #expect(failures == 0)
            // The replica server stopped at once (no shutdown: its sessions reset, new ones refused)
            // under a stream of reads: none fails. Started again, it is read from again.
            let data = try Self.replicaDataDirectory()
            let primaryPort = url.port
            let freshAgain = gateway.output.components(separatedBy: "replica fresh: reading from it").count
            // Readers for 3 s; the stop half a second in.
            let readUntil = ContinuousClock.now + .seconds(3)
            let (stopped, reads) = try await withThrowingTaskGroup(of: (failed: Int, reads: Int).self) { group in
                group.addTask {
                    try await Task.sleep(for: .milliseconds(500))
                    try await Self.postgresScript(#"pg_as_owner "$PG_BIN/pg_ctl" -D '\#(data)' -m immediate -w stop"#)
                    #expect(ContinuousClock.now < readUntil - .seconds(1), "the stop came too late to be read through")
                    return (0, 0)
                }
                for _ in 0..<4 {
                    group.addTask { try await Self.readConcerts(http, api, while: { _ in ContinuousClock.now < readUntil }) }
                }
                return try await group.reduce((0, 0)) { ($0.0 + $1.failed, $0.1 + $1.reads) }
            }
            #expect(stopped == 0, "\(stopped) of \(reads) reads failed")
            #expect(!FileManager.default.fileExists(atPath: data + "/postmaster.pid"), "the replica was not stopped")
            try await Self.postgresScript("pg_start_replica '\(data)' \(replica.port) \(primaryPort) fsync=off max_connections=400")
            #expect(await eventually(timeout: .seconds(60)) {
                gateway.output.components(separatedBy: "replica fresh: reading from it").count > freshAgain
            }, "the restarted replica was not read from again")
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
        gateway.send(SIGTERM)
        #expect(await gateway.waitForExit() == 0, "\(gateway.output)")
    }
}
