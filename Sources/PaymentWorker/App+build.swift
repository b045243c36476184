import Logging
import PostgresNIO
import ServiceLifecycle
import Shared

/// The job handlers this worker runs.
func paymentHandlers(settings: Settings) -> [any JobHandler] {
    [ChargePointsHandler(), ReserveSeatHandler(holdTTL: settings.holdTTL), PayHandler(), CancelReservationHandler()]
}

/// The payment worker's services, in start order: the pool, then (once the database is ready)
/// the listener, the claim loops, maintenance and statistics, then the metrics server.
func buildPaymentWorker(settings: Settings, handlers: [any JobHandler]? = nil) -> [any Service] {
    let process = "payment-worker"
    let client = Database.makeClient(settings, process: process)
    let wake = WakeSignal()
    let runner = JobRunner(
        client: client, handlers: handlers ?? paymentHandlers(settings: settings), batchSize: settings.workerBatch,
        logger: Observability.logger(process, "runner"))
    let worker = JobWorker(
        runner: runner, wake: wake, concurrency: settings.workerConcurrency, pollInterval: settings.pollInterval,
        logger: Observability.logger(process, "worker"))
    let listener = NotificationListener(
        url: settings.directDatabaseURL, channels: [JobStore.jobsChannel], applicationName: "stagedoor-\(process)-listener",
        logger: Observability.logger(process, "listener"),
        onConnect: { wake.signal() },
        onNotification: { _, _ in wake.signal() })
    let maintenance = JobMaintenance(
        store: JobStore(client: client, logger: Observability.logger(process, "jobs")),
        retention: settings.jobRetention, logger: Observability.logger(process, "maintenance"))
    let reaper = HoldReaper(client: client, every: .seconds(5), logger: Observability.logger(process, "holds"))
    let statistics = StatisticsKeeper(client: client, logger: Observability.logger(process, "statistics"))
    var services: [any Service] = [
        client,
        AfterDatabaseReady(client: client, settings: settings, services: [listener, worker, maintenance, reaper, statistics],
                           logger: Observability.logger(process, "startup")),
    ]
    if let metrics = OperationsRoutes.server(settings: settings, client: client, process: process) {
        services.append(metrics)
    }
    return services
}
