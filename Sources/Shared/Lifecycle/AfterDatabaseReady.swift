import Logging
import PostgresNIO
import ServiceLifecycle

/// Waits for the database (retrying up to `STARTUP_TIMEOUT`), applies migrations, then runs
/// `services` side by side. List it after the `PostgresClient` so it drains before the pool closes.
public struct AfterDatabaseReady: Service {
    let client: PostgresClient
    let settings: Settings
    let services: [any Service]
    let logger: Logger

    public init(client: PostgresClient, settings: Settings, services: [any Service], logger: Logger) {
        self.client = client
        self.settings = settings
        self.services = services
        self.logger = logger
    }

    public func run() async throws {
        try await DatabaseStartup.prepare(client, settings: settings, logger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            for service in services.map({ RunningServices.current?.track($0) ?? $0 }) {
                group.addTask {
                    // One line per service as it ends, so a shutdown that hangs says which part is left.
                    do {
                        try await service.run()
                        logger.info("service stopped", metadata: ["service": "\(RunningServices.name(of: service))"])
                    } catch {
                        logger.error("service failed", metadata: ["service": "\(RunningServices.name(of: service))", "error": "\(String(reflecting: error))"])
                        throw error
                    }
                }
            }
        }
        // With nothing left to run, stay up until the process is asked to stop.
        try? await gracefulShutdown()
    }
}
