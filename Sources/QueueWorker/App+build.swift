import Logging
import PostgresNIO
import ServiceLifecycle
import Shared

/// The queue worker's services, in start order: the pool, then (once the database is ready) the
/// admission loop, then the metrics server.
func buildQueueWorker(settings: Settings) -> [any Service] {
    let process = "queue-worker"
    let client = Database.makeClient(settings, process: process)
    var services: [any Service] = [
        client,
        AfterDatabaseReady(client: client, settings: settings,
                           services: [AdmissionService(settings: settings, logger: Observability.logger(process, "admission"))],
                           logger: Observability.logger(process, "startup")),
    ]
    if let metrics = OperationsRoutes.server(settings: settings, client: client, process: process) {
        services.append(metrics)
    }
    return services
}
