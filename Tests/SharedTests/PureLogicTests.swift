import Foundation
import Migrations
import Shared
import Testing
import TestSupport

@Suite("Settings")
struct SettingsTests {
    @Test("defaults match docs/operations.md")
    func defaults() throws {
        let settings = Settings.defaults
        #expect(settings.port == 8080)
        #expect(settings.admitPerSecond == 50)
        #expect(settings.maxActive == 2000)
        #expect(settings.activeTTL == .seconds(600))
        #expect(settings.waitingIdleTTL == .seconds(120))
        #expect(settings.holdTTL == .seconds(300))
        #expect(settings.queueTick == .seconds(1))
        #expect(settings.pollInterval == .seconds(1))
        #expect(settings.replyTimeout == .seconds(5))
        #expect(settings.jobRetention == .seconds(86400))
        #expect(settings.startupTimeout == .seconds(30))
        #expect(settings.shutdownTimeout == .seconds(30))
        #expect(settings.notifyCoalesce == .microseconds(500))
        #expect(settings.metricsPort == nil)
        #expect(settings.adminKey == nil)
        #expect(settings.executor == .eventLoops)
        #expect(settings.eventLoops == 0)
        #expect(settings.directDatabaseURL == settings.databaseURL)
        #expect(settings.statementStyle == .named)
    }

    @Test("values parse, with fractions of seconds")
    func parses() throws {
        let settings = try Settings(values: [
            "ADMIT_PER_SECOND": "100", "HOLD_TTL": "0.5", "NOTIFY_COALESCE": "0.0004", "METRICS_PORT": "0", "LOG_FORMAT": "JSON", "EXECUTOR": "pool",
            "EVENT_LOOPS": "1",
            "DATABASE_URL": "postgres://u:p%40ss@db.local:6543/app",
        ])
        #expect(settings.admitPerSecond == 100)
        #expect(settings.holdTTL == .milliseconds(500))
        #expect(settings.notifyCoalesce == .microseconds(400))
        #expect(settings.metricsPort == 0)
        #expect(settings.logFormat == .json)
        #expect(settings.executor == .pool)
        #expect(settings.eventLoops == 1)
        #expect(settings.databaseURL.password == "p@ss")
        #expect(settings.databaseURL.port == 6543)
        #expect(settings.databaseURL.description == "postgres://u:***@db.local:6543/app")
        #expect(settings.directDatabaseURL == settings.databaseURL, "DATABASE_DIRECT_URL follows DATABASE_URL")
        let pooled = try Settings(values: [
            "DATABASE_URL": "postgres://u@bouncer:6432/app", "DATABASE_DIRECT_URL": "postgres://u@db:5432/app", "DATABASE_STATEMENTS": "Unnamed",
        ])
        #expect(pooled.databaseURL.port == 6432 && pooled.directDatabaseURL.port == 5432 && pooled.statementStyle == .unnamed)
        let replicated = try Settings(values: ["DATABASE_REPLICA_URLS": " postgres://u@r1:5433/app, postgres://u@r2/app ", "REPLICA_MAX_LAG": "0.5"])
        #expect(replicated.replicaURLs.map(\.host) == ["r1", "r2"] && replicated.replicaURLs.map(\.port) == [5433, 5432])
        #expect(replicated.replicaMaxLag == .milliseconds(500))
        #expect(try Settings(values: [:]).replicaURLs.isEmpty)
    }

    @Test("an invalid value names its key", arguments: [
        ("ADMIT_PER_SECOND", "fast"), ("PORT", "70000"), ("HOLD_TTL", "-1"), ("QUEUE_TICK", "0"),
        ("LOG_LEVEL", "loud"), ("DATABASE_URL", "mysql://x/y"), ("WORKER_BATCH", "0"), ("METRICS_PORT", "x"),
        ("EXECUTOR", "threads"), ("EVENT_LOOPS", "-1"), ("EVENT_LOOPS", "many"),
        ("DATABASE_DIRECT_URL", "db:5432"), ("DATABASE_STATEMENTS", "prepared"), ("DATABASE_REPLICA_URLS", "postgres://a/b,mysql://c/d"),
        ("REPLICA_MAX_LAG", "0"),
    ])
    func rejects(key: String, value: String) {
        #expect(throws: SettingsError.self) { try Settings(values: [key: value]) }
        do {
            _ = try Settings(values: [key: value])
        } catch {
            #expect("\(error)".hasPrefix("invalid \(key)="))
        }
    }

    @Test("flags win over the environment")
    func flagsWin() throws {
        let options = try SettingsOptions.parse(["--admit-per-second", "7"])
        let settings = try options.settings(environment: ["ADMIT_PER_SECOND": "3", "MAX_ACTIVE": "9", "HOME": "/x"])
        #expect(settings.admitPerSecond == 7)
        #expect(settings.maxActive == 9)
    }
}

@Suite("SQL scripts and migrations")
struct SQLScriptTests {
    @Test("splits on semicolons outside quotes, comments and dollar quotes")
    func splits() {
        let script = """
            -- a comment; with a semicolon
            CREATE TABLE a (x text DEFAULT 'a;b');
            /* block; comment */
            CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
            SELECT "odd;name" FROM a;;
            """
        let statements = SQLScript.statements(in: script)
        #expect(statements.count == 3)
        #expect(statements[0] == "CREATE TABLE a (x text DEFAULT 'a;b')")
        #expect(statements[1].contains("$body$ SELECT 1; $body$"))
        #expect(statements[2] == #"SELECT "odd;name" FROM a"#)
    }

    @Test("every .sql file under sql/migrations and sql/functions is embedded, as it is on disk; migrations numbered in order")
    func everyFileListed() throws {
        for (folder, embedded) in [("migrations", Migrations.migrations), ("functions", Migrations.functions)] {
            let directory = Checkout.url("sql/\(folder)")
            let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }.sorted()
            #expect(embedded.map(\.name) == files.map { "\(folder)/\($0)" })
            for file in embedded {
                let onDisk = try String(contentsOf: Checkout.url("sql/\(file.name)"), encoding: .utf8)
                #expect(onDisk == file.sql, "\(file.name) differs from its embedded copy")
            }
        }
        for (index, migration) in Migrations.migrations.enumerated() {
            #expect(migration.name.hasPrefix(String(format: "migrations/%03d_", index + 1)))
        }
    }

    @Test("each function file defines the function it is named after (its overloads too), and only that one")
    func oneFunctionPerFile() {
        for file in Migrations.functions {
            let name = String(file.name.dropFirst("functions/".count).dropLast(".sql".count))
            let defined = SQLScript.statements(in: file.sql).compactMap { statement -> String? in
                guard let range = statement.range(of: #"CREATE OR REPLACE (FUNCTION|PROCEDURE) ([a-z_]+)"#, options: .regularExpression) else { return nil }
                return String(statement[range].split(separator: " ").last!)
            }
            #expect(!defined.isEmpty && Set(defined) == [name], "\(file.name) defines \(defined)")
        }
    }

    @Test("the job core's Swift and SQL name no job kind's domain: seats, schedules, reservations, tokens, rooms")
    func jobCoreIsGeneric() throws {
        let core = try FileManager.default.contentsOfDirectory(atPath: Checkout.url("Sources/Shared/Queue").path)
            .map { "Sources/Shared/Queue/\($0)" }
            + ["claim_jobs", "finish_jobs", "insert_jobs", "enqueue_jobs"].map { "sql/functions/stagedoor_\($0).sql" }
        for path in core {
            let text = try String(contentsOf: Checkout.url(path), encoding: .utf8).lowercased()
            for word in [#"\bseats?\b"#, #"\bschedules?\b(?!\()"#, #"\breservations?\b"#, #"queue.tokens?"#, #"waiting.room"#,
                         #"\bbooking"#, #"\bconcerts?\b"#, #"\bwallets?\b"#] {
                #expect(text.range(of: word, options: .regularExpression) == nil, "\(path) matches \(word)")
            }
        }
    }
}

@Suite("Retry policy")
struct RetryPolicyTests {
    @Test("delays grow and stop at the cap, whatever the jitter")
    func grows() {
        let policy = RetryPolicy(base: .seconds(1), cap: .seconds(60), jitter: 0.25)
        for attempt in 1..<6 {
            let longest = policy.delay(afterAttempt: attempt, unit: 0.999)
            let shortestNext = policy.delay(afterAttempt: attempt + 1, unit: 0)
            #expect(shortestNext > longest)
        }
        #expect(policy.delay(afterAttempt: 50, unit: 0.5) == .seconds(60))
        #expect(policy.delay(afterAttempt: 1, unit: 0.5) == .seconds(1))
    }
}
