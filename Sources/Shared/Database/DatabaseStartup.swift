import Logging
import PostgresNIO

/// The database as the process starts: reachable within `STARTUP_TIMEOUT`, then migrated.
public enum DatabaseStartup {
    /// Waits for the database to answer, retrying with backoff, then applies pending migrations.
    /// - Throws: ``StartupError`` when the database stays unreachable for `timeout`.
    /// Migrations run over `DATABASE_DIRECT_URL` when it differs from `DATABASE_URL`: their advisory
    /// lock is a session's, which a transaction-mode pooler would not keep on one server.
    public static func prepare(_ client: PostgresClient, settings: Settings, logger: Logger) async throws {
        let url = settings.databaseURL
        try await waitUntilReachable(client, url: url, timeout: settings.startupTimeout, logger: logger)
        let applied = try await withDeadline(.seconds(300)) {
            let migrator = Migrator(logger: logger)
            if settings.directDatabaseURL == url { return try await migrator.migrate(client) }
            return try await Database.withClient(settings.directDatabaseURL, poolSize: 1, applicationName: "stagedoor-migrate",
                                                 backgroundLogger: logger) { try await migrator.migrate($0) }
        }
        logger.info("database ready", metadata: ["database": "\(url)", "migrations.applied": "\(applied.count)"])
    }

    /// Retries `SELECT 1` until it answers or `timeout` passes.
    public static func waitUntilReachable(_ client: PostgresClient, url: DatabaseURL, timeout: Duration, logger: Logger) async throws {
        let deadline = ContinuousClock.now + timeout
        var attempt = 0
        while true {
            attempt += 1
            do {
                try await withDeadline(.seconds(3)) { try await client.run("SELECT 1", logger: logger) }
                return
            } catch {
                let left = deadline - ContinuousClock.now
                guard left > .zero else {
                    throw StartupError(message: "database \(url) unreachable after \(timeout) (last error: \(String(describing: error)))")
                }
                logger.notice("waiting for the database", metadata: ["attempt": "\(attempt)", "database": "\(url)"])
                try await Task.sleep(for: min(RetryPolicy(base: .milliseconds(200), cap: .seconds(2)).delay(afterAttempt: attempt), left))
            }
        }
    }
}

/// A start-up failure, printed as one line before the process exits non-zero.
public struct StartupError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
