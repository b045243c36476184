import ArgumentParser
import Foundation
import Logging
import Shared

/// `stagedoor-admin migrate`: applies the schema to `DATABASE_DIRECT_URL` (else `DATABASE_URL`) and
/// exits, for a deploy step. Direct first: the pass holds a session's advisory lock, which a
/// transaction-mode pooler would not keep on one server.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Applies pending migrations and changed functions to DATABASE_DIRECT_URL (else DATABASE_URL), then exits.")

    @Option(help: "postgres://user[:password]@host[:port]/database (default: DATABASE_DIRECT_URL, else DATABASE_URL)")
    var databaseUrl: String?

    @Option(help: "Seconds to retry an unreachable database.")
    var startupTimeout: Int = 30

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .notice
            return handler
        }
        let environment = ProcessInfo.processInfo.environment
        let given = [("--database-url", databaseUrl), ("DATABASE_DIRECT_URL", environment["DATABASE_DIRECT_URL"]), ("DATABASE_URL", environment["DATABASE_URL"])]
            .first { $0.1.map { !$0.isEmpty } ?? false }
        guard let (source, raw) = given, let raw else {
            throw fail("DATABASE_URL is not set (or DATABASE_DIRECT_URL, or pass --database-url)")
        }
        guard let url = DatabaseURL(parsing: raw) else { throw fail("invalid \(source): expected postgres://user[:password]@host[:port]/database") }
        let logger = Logger(label: "stagedoor.admin.migrate")
        do {
            try await Database.withClient(url, poolSize: 1) { client in
                try await DatabaseStartup.waitUntilReachable(client, url: url, timeout: .seconds(startupTimeout), logger: logger)
                let applied = try await Migrator(logger: logger).migrate(client)
                print(applied.isEmpty ? "schema up to date" : "applied \(applied.count): \(applied.joined(separator: ", "))")
            }
        } catch let error as StartupError {
            throw fail(error.message)
        } catch let error as MigrationError {
            throw fail(error.description)
        }
    }

    private func fail(_ message: String) -> ExitCode {
        OperatorClient.fail(message)
    }
}
