import AsyncHTTPClient
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import PostgresNIO
import Testing
import TestSupport

/// `stagedoor-admin` run as a process against a real gateway process and PostgreSQL.
@Suite("stagedoor-admin against a real gateway")
struct AdminCLITests {
    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs the CLI to its end with STAGEDOOR_URL and ADMIN_KEY (unless overridden) in its environment,
    /// its output in files. Spawned with posix_spawn and reaped with waitpid, not Foundation's
    /// `Process`: with twenty short children per run, test runs began to hang (2026-12-04).
    static func admin(_ arguments: [String], url: String, key: String? = "cli-key", environment extra: [String: String] = [:]) async throws -> Run {
        var environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "STAGEDOOR_URL": url]
        if let key { environment["ADMIN_KEY"] = key }
        environment.merge(extra) { _, new in new }
        let directory = FileManager.default.temporaryDirectory
        let (out, err) = (directory.appendingPathComponent("admin-\(UUID()).out"), directory.appendingPathComponent("admin-\(UUID()).err"))
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        let program = RunningProcess.binDirectory.appendingPathComponent("stagedoor-admin").path
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, out.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, err.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, nil, argv, envp)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EINVAL) }
        var status: Int32 = 0
        let deadline = ContinuousClock.now + .seconds(60)
        while waitpid(pid, &status, WNOHANG) == 0 {
            if ContinuousClock.now > deadline { kill(pid, SIGKILL) }
            try await Task.sleep(for: .milliseconds(20))
        }
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
        return Run(status: exit, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                   stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    static func json(_ run: Run) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8))) as? [String: Any] ?? [:]
    }

    @Test("rooms, jobs and stats from the terminal: tables, --json, one error line and a non-zero exit on failure")
    func operatorTour() async throws {
        let url = try await TestDatabase.create(migrated: true)
        defer { Task { try? await TestDatabase.drop(url.database) } }
        let gateway = try RunningProcess("stagedoor-gateway", environment: ["DATABASE_URL": url.urlString, "PORT": "0", "ADMIN_KEY": "cli-key"])
        _ = await eventually(timeout: .seconds(60)) { MetricsTests.listeningPort(gateway.output) != nil }
        let port = try #require(MetricsTests.listeningPort(gateway.output), "\(gateway.output)")
        let api = "http://127.0.0.1:\(port)"
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let concert = try await MetricsTests.call(http, .POST, "\(api)/v1/admin/concerts", bearer: "cli-key", body: """
                {"title": "CLI", "artist": "The Terminal", "schedules": [{"startsAt": "2030-01-01T20:00:00Z", "price": 10}]}
                """)
            let concertID = try #require(concert.json["id"] as? Int)

            // Rooms.
            let created = try await Self.admin(["rooms", "create", "--name", "Night sale", "--concert", "\(concertID)", "--rate", "10", "--json"], url: api)
            #expect(created.status == 0, "\(created.stderr)")
            let roomID = try #require(Self.json(created)["roomId"] as? Int)
            let list = try await Self.admin(["rooms", "list"], url: api)
            #expect(list.status == 0 && list.stdout.hasPrefix("ID  NAME") && list.stdout.contains("Night sale"), "\(list.stdout)")
            #expect(try await Self.admin(["rooms", "pause", "\(roomID)"], url: api).status == 0)
            #expect(Self.json(try await Self.admin(["rooms", "show", "\(roomID)", "--json"], url: api))["state"] as? String == "paused")
            #expect(try await Self.admin(["rooms", "set-rate", "\(roomID)", "25"], url: api).status == 0)
            #expect(try await Self.admin(["rooms", "resume", "\(roomID)"], url: api).status == 0)
            let room = try await MetricsTests.call(http, .GET, "\(api)/v1/admin/rooms/\(roomID)", bearer: "cli-key")
            #expect(room.json["state"] as? String == "open" && room.json["admitPerSecond"] as? Double == 25)

            // Jobs: two dead ones, made as a worker leaves them.
            _ = try await TestDatabase.withClient(url, poolSize: 1) { client in
                try await client.query("""
                    INSERT INTO jobs (kind, payload, state, attempts, finished_at, last_error, response_status, response_body)
                    SELECT 'reserve', '{}', 'dead', 5, now(), 'Boom: the handler threw', 503, '{}' FROM generate_series(1, 2)
                    """)
            }
            let dead = try await Self.admin(["jobs", "dead"], url: api)
            #expect(dead.status == 0 && dead.stdout.contains("Boom: the handler threw"), "\(dead.stdout)")
            let ids = (Self.json(try await Self.admin(["jobs", "dead", "--json"], url: api))["jobs"] as? [[String: Any]] ?? [])
                .compactMap { $0["jobId"] as? Int }
            #expect(ids.count == 2)
            let retried = try await Self.admin(["jobs", "retry", "\(ids[0])"], url: api)
            #expect(retried.status == 0 && retried.stdout == "job \(ids[0]) queued again\n", "\(retried)")
            let again = try await Self.admin(["jobs", "retry", "\(ids[0])"], url: api)
            #expect(again.status != 0 && again.stdout.isEmpty)
            #expect(again.stderr.split(separator: "\n").count == 1 && again.stderr.contains("409 job_not_dead"), "\(again.stderr)")
            #expect(try await Self.admin(["jobs", "discard", "\(ids[1])"], url: api).status == 0)

            // Stats.
            let stats = Self.json(try await Self.admin(["stats", "--json"], url: api))
            let jobs = try #require(stats["jobs"] as? [String: Any])
            #expect(jobs["queued"] as? Int == 1 && jobs["dead"] as? Int == 0)
            let table = try await Self.admin(["stats"], url: api)
            #expect(table.status == 0 && table.stdout.hasPrefix("jobs: 1 queued, 0 running, 0 dead"), "\(table.stdout)")

            // Failures: one line on stderr, a non-zero exit.
            let failures: [(Run, String)] = [
                (try await Self.admin(["rooms", "list"], url: api, key: "wrong"), "401 unauthorized"),
                (try await Self.admin(["rooms", "list"], url: api, key: nil), "ADMIN_KEY is not set"),
                (try await Self.admin(["rooms", "set-rate", "\(roomID)", "0"], url: api), "400 invalid_request"),
                (try await Self.admin(["rooms", "show", "999"], url: api), "404 not_found"),
                (try await Self.admin(["stats"], url: "http://127.0.0.1:1"), "cannot reach"),
            ]
            for (run, expected) in failures {
                #expect(run.status != 0)
                #expect(run.stderr.split(separator: "\n").count == 1 && run.stderr.contains(expected), "\(run.stderr)")
            }
        } catch {
            try? await http.shutdown()
            gateway.send(SIGTERM)
            throw error
        }
        try await http.shutdown()
        gateway.send(SIGTERM)
        _ = await gateway.waitForExit()
    }
}
