import Logging
import PostgresNIO

/// The pooled Postgres client of a process.
public enum Database {
    /// A client for `settings.databaseURL`; it works only while it runs as a service (list it first).
    public static func makeClient(_ settings: Settings, process: String) -> PostgresClient {
        PostgresClient(
            configuration: settings.databaseURL.clientConfiguration(poolSize: settings.dbPoolSize, applicationName: "stagedoor-\(process)"),
            backgroundLogger: Observability.logger(process, "postgres", level: .warning))
    }

    /// Runs `body` with a client for `url` that runs while `body` does (for short-lived commands).
    public static func withClient<T: Sendable>(
        _ url: DatabaseURL, poolSize: Int, applicationName: String = "stagedoor-admin",
        backgroundLogger: Logger = Logger(label: "stagedoor.postgres"), _ body: (PostgresClient) async throws -> T
    ) async throws -> T {
        let client = PostgresClient(
            configuration: url.clientConfiguration(poolSize: poolSize, applicationName: applicationName),
            backgroundLogger: backgroundLogger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}
