import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle

/// `/healthz`, `/readyz` and `/metrics`, served by every process (workers on `METRICS_PORT`).
public enum OperationsRoutes {
    /// Adds the three routes to `router`.
    public static func add<Context: RequestContext>(to router: Router<Context>, client: PostgresClient, logger: Logger) {
        router.get("healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        router.get("readyz") { _, _ -> Response in
            do {
                try await withDeadline(.seconds(2)) { try await client.run("SELECT 1", logger: logger) }
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ready"}"#)))
            } catch {
                let problem = ProblemDocument.json(status: 503, code: "unavailable", title: "Service unavailable",
                                                   detail: "The database does not answer.")
                return Response(status: .serviceUnavailable, headers: [.contentType: "application/problem+json", .retryAfter: "1"],
                                body: .init(byteBuffer: ByteBuffer(string: problem)))
            }
        }
        router.get("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: Observability.renderMetrics())))
        }
    }

    /// A small HTTP server with only these routes, for the workers; nil when `METRICS_PORT` is unset.
    public static func server(settings: Settings, client: PostgresClient, process: String) -> (any Service)? {
        guard let port = settings.metricsPort else { return nil }
        let logger = Observability.logger(process, "metrics")
        let router = Router()
        add(to: router, client: client, logger: logger)
        return Application(
            router: router,
            configuration: .init(address: .hostname(settings.host, port: port), serverName: "stagedoor-\(process)"),
            onServerRunning: { channel in
                logger.info("serving /metrics and /healthz", metadata: ["port": "\(channel.localAddress?.port ?? port)"])
            },
            logger: logger)
    }
}
