import Foundation
import PostgresNIO
import Migrations
import Shared
import Testing
import TestSupport

@Suite("Processes")
struct ProcessLifecycleTests {
    @Test("5 processes migrating one empty database at once apply each migration once, then exit 0 on SIGTERM")
    func concurrentMigration() async throws {
        let url = try await TestDatabase.create(migrated: false)
        defer { Task { try? await TestDatabase.drop(url.database) } }
        let env = ["DATABASE_URL": url.urlString, "LOG_LEVEL": "info"]
        let processes = try (0..<5).map { index in
            try RunningProcess(index % 2 == 0 ? "stagedoor-queue-worker" : "stagedoor-payment-worker", environment: env)
        }
        for process in processes {
            let ready = await eventually(timeout: .seconds(60)) { process.output.contains("database ready") }
            #expect(ready, "never ready: \(process.output)")
        }
        try await TestDatabase.withClient(url) { client in
            let rows = try await client.query("SELECT name FROM schema_migrations")
            var names: [String] = []
            for try await name in rows.decode(String.self) { names.append(name) }
            #expect(names.sorted() == (Migrations.migrations + Migrations.functions).map(\.name).sorted())
        }
        let applied = processes.map { $0.output.components(separatedBy: "applied migration").count - 1 }
        #expect(applied.reduce(0, +) == Migrations.migrations.count + Migrations.functions.count)
        for process in processes { process.send(SIGTERM) }
        for process in processes {
            #expect(await process.waitForExit() == 0, "\(process.output)")
        }
    }

    @Test("an unreachable database: one clear line and a non-zero exit after STARTUP_TIMEOUT")
    func unreachableDatabase() async throws {
        let process = try RunningProcess("stagedoor-payment-worker", environment: [
            "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere", "STARTUP_TIMEOUT": "1",
        ])
        let status = await process.waitForExit(timeout: .seconds(20))
        #expect(status != nil && status != 0)
        #expect(process.output.contains("stagedoor-payment-worker: database postgres://postgres@127.0.0.1:1/nowhere unreachable"))
    }

    @Test("an invalid setting: one line naming it, exit 2")
    func invalidSetting() async throws {
        let process = try RunningProcess("stagedoor-queue-worker", environment: ["ADMIT_PER_SECOND": "lots"])
        #expect(await process.waitForExit(timeout: .seconds(10)) == 2)
        #expect(process.output.trimmingCharacters(in: .whitespacesAndNewlines)
            == #"stagedoor-queue-worker: invalid ADMIT_PER_SECOND="lots": expected a number from 0.001 to 1000000.0"#)
    }

    @Test("EVENT_LOOPS sets how many event-loop threads a process runs")
    func eventLoops() async throws {
        let url = try await TestDatabase.create(migrated: true)
        defer { Task { try? await TestDatabase.drop(url.database) } }
        for loops in [1, 3] {
            let process = try RunningProcess("stagedoor-payment-worker", environment: [
                "DATABASE_URL": url.urlString, "EVENT_LOOPS": "\(loops)", "LOG_LEVEL": "info",
            ])
            let ready = await eventually(timeout: .seconds(60)) { process.output.contains("database ready") }
            #expect(ready, "never ready: \(process.output)")
            #expect(Self.eventLoopThreads(of: process.pid) == loops)
            process.send(SIGTERM)
            #expect(await process.waitForExit() == 0, "\(process.output)")
        }
    }

    /// The threads of `pid` that are NIO's shared event loops (named `NIO-SGLTN-…`).
    static func eventLoopThreads(of pid: Int32) -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.filter { task in
            let name = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8)) ?? ""
            return name.hasPrefix("NIO-SGLTN-")
        }.count
    }
}
