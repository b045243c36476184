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
}
