import Foundation
import Logging
import Migrations
import PostgresNIO
import Shared
import Testing
import TestSupport

@Suite("Migrator")
struct MigratorTests {
    let logger = Logger(label: "test.migrator")

    /// An empty database of its own for `body`, dropped after.
    private func withEmptyDatabase(_ body: @Sendable (PostgresClient) async throws -> Void) async throws {
        let url = try await TestDatabase.create(migrated: false)
        defer { Task { try? await TestDatabase.drop(url.database) } }
        try await TestDatabase.withClient(url, poolSize: 6) { try await body($0) }
    }

    @Test("a first pass applies every file once; a second applies nothing and leaves every record as it was")
    func idempotent() async throws {
        try await withEmptyDatabase { client in
            let first = try await Migrator(logger: logger).migrate(client)
            #expect(first == (Migrations.migrations + Migrations.functions).map(\.name))
            let before = try await records(client)
            #expect(try await Migrator(logger: logger).migrate(client).isEmpty)
            #expect(try await records(client) == before)
            #expect(before.values.allSatisfy { $0.prefix { $0 != " " }.count == 64 })
        }
    }

    @Test("five passes at once on one empty database apply each file exactly once")
    func concurrent() async throws {
        try await withEmptyDatabase { client in
            let applied = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<5 { group.addTask { try await Migrator(logger: logger).migrate(client).count } }
                return try await group.reduce(0, +)
            }
            #expect(applied == Migrations.migrations.count + Migrations.functions.count)
        }
    }

    @Test("a function file whose text changed is applied again on the next pass, and only it")
    func changedFunctionReapplied() async throws {
        try await withEmptyDatabase { client in
            try await Migrator(logger: logger).migrate(client)
            let status = "SELECT stagedoor_token_status('active', now() - interval '1 second', now(), 60, 'open')"
            #expect(try await client.scalar(PostgresQuery(unsafeSQL: status), as: String.self) == "expired")

            let changed = Migrations.functions.map { file in
                file.name.hasSuffix("stagedoor_token_status.sql")
                    ? SchemaFile(name: file.name, sql: file.sql.replacingOccurrences(of: "THEN 'expired'", with: "THEN 'lapsed'"))
                    : file
            }
            let applied = try await Migrator(functions: changed, logger: logger).migrate(client)
            #expect(applied == ["functions/stagedoor_token_status.sql"])
            #expect(try await client.scalar(PostgresQuery(unsafeSQL: status), as: String.self) == "lapsed")
            #expect(try await Migrator(functions: changed, logger: logger).migrate(client).isEmpty)
        }
    }

    @Test("a file the server refuses stops the pass with one line naming the file and the server's words")
    func refusedFileNamed() async throws {
        try await withEmptyDatabase { client in
            let broken = Migrations.functions + [SchemaFile(name: "functions/zz_broken.sql", sql: "SELECT no_such_function();")]
            await #expect {
                try await Migrator(functions: broken, logger: logger).migrate(client)
            } throws: { error in
                "\(error)".contains("sql/functions/zz_broken.sql could not be applied: function no_such_function() does not exist")
            }
        }
    }

    @Test("a migration whose text changed after it was applied is refused with a line that says what to do")
    func changedMigrationRefused() async throws {
        try await withEmptyDatabase { client in
            try await Migrator(logger: logger).migrate(client)
            let edited = Migrations.migrations.map { SchemaFile(name: $0.name, sql: $0.sql + "\n-- edited\n") }
            await #expect {
                try await Migrator(migrations: edited, logger: logger).migrate(client)
            } throws: { error in
                "\(error)".contains("migrations/001_baseline.sql has changed since it was applied") && "\(error)".contains("make reset")
            }
        }
    }

    @Test("a migration replaced after release passes on a database that applied one of its former texts; any other text is refused")
    func replacedMigrationAccepted() async throws {
        try await withEmptyDatabase { client in
            try await Migrator(logger: logger).migrate(client)
            let replaced = try #require(Migrations.migrations.first { !$0.formerChecksums.isEmpty })
            try await client.query("UPDATE schema_migrations SET checksum = \(replaced.formerChecksums[0]) WHERE name = \(replaced.name)")
            #expect(try await Migrator(logger: logger).migrate(client) == [])
            try await client.query("UPDATE schema_migrations SET checksum = 'another' WHERE name = \(replaced.name)")
            await #expect {
                try await Migrator(logger: logger).migrate(client)
            } throws: { error in
                "\(error)".contains("\(replaced.name) has changed since it was applied")
            }
        }
    }

    @Test("a database made by the numbered migrations before the baseline is refused, untouched, with how to reset it")
    func preBaselineRefused() async throws {
        try await withEmptyDatabase { client in
            try await client.query("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            try await client.query("INSERT INTO schema_migrations (version, name) VALUES (1, '001_schema.sql'), (14, '014_reservations_checked_where_made.sql')")
            await #expect {
                try await Migrator(logger: logger).migrate(client)
            } throws: { error in
                "\(error)".contains("older Stagedoor") && "\(error)".contains("make reset")
            }
            #expect(try await client.scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'jobs'", as: Int64.self) == 0)
        }
    }

    @Test("sql/schema.sql is what a migrated database holds (`make schema` writes it)")
    func schemaFileCurrent() async throws {
        try await TestDatabase.withDatabase { _, url in
            let process = Process()
            process.executableURL = Checkout.url("scripts/schema.sh")
            process.arguments = ["dump", url.urlString]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let dumped = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
            let committed = try Checkout.text("sql/schema.sql").split(separator: "\n", omittingEmptySubsequences: false)
                .drop { $0.hasPrefix("-- The schema") || $0.hasPrefix("-- Written by") }.joined(separator: "\n")
            #expect(dumped.contains("CREATE FUNCTION public.stagedoor_insert_jobs"))
            #expect(committed == dumped, "sql/schema.sql is stale: run `make schema`")
        }
    }

    private func records(_ client: PostgresClient) async throws -> [String: String] {
        var records: [String: String] = [:]
        for try await (name, checksum, at) in try await client.query("SELECT name, checksum, applied_at::text FROM schema_migrations")
            .decode((String, String, String).self) {
            records[name] = checksum + " " + at
        }
        return records
    }
}
