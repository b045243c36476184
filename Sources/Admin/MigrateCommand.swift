import ArgumentParser
import Foundation
import Logging
import Shared

/// `stagedoor-admin migrate`: applies the schema to `DATABASE_URL` and exits, for a deploy step.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Applies pending migrations and changed functions to DATABASE_URL, then exits.")

    @Option(help: "postgres://user[:password]@host[:port]/database (default: DATABASE_URL)")
    var databaseUrl: String?

    @Option(help: "Seconds to retry an unreachable database.")
    var startupTimeout: Int = 30

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .notice
            return handler
        }
        guard let raw = databaseUrl ?? ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            throw fail("DATABASE_URL is not set (or pass --database-url)")
        }
        guard let url = DatabaseURL(parsing: raw) else { throw fail("invalid DATABASE_URL: expected postgres://user[:password]@host[:port]/database") }
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
