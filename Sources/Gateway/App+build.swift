import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle
import Shared

/// The gateway's services, in start order: the pool, then the HTTP application (which waits for
/// the database and migrates before it starts listening).
func buildGateway(settings: Settings) -> [any Service] {
    let process = "gateway"
    let client = Database.makeClient(settings, process: process)
    return [client, buildApplication(settings: settings, client: client)]
}

/// The HTTP application over `client`; tests build it the same way.
func buildApplication(settings: Settings, client: PostgresClient) -> some ApplicationProtocol {
    let logger = Observability.logger("gateway", "http")
    let router = buildRouter(settings: settings, client: client, logger: logger)
    var app = Application(
        router: router,
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "stagedoor-gateway"),
        onServerRunning: { channel in
            logger.info("listening", metadata: ["url": "http://\(settings.host):\(channel.localAddress?.port ?? settings.port)"])
        },
        logger: logger)
    app.beforeServerStarts {
        try await DatabaseStartup.prepare(client, url: settings.databaseURL, timeout: settings.startupTimeout,
                                          logger: Observability.logger("gateway", "startup"))
    }
    return app
}

/// Every route with its middleware.
func buildRouter(settings: Settings, client: PostgresClient, logger: Logger) -> Router<BasicRequestContext> {
    let database = GatewayDatabase(client: client, deadline: settings.requestTimeout, logger: Observability.logger("gateway", "db"))
    let auth = Authenticator(database: database)
    let router = Router()
    router.middlewares.add(MetricsMiddleware())
    router.middlewares.add(ProblemMiddleware(logger: logger))
    OperationsRoutes.add(to: router, client: client, logger: logger)
    UsersController(users: UserStore(database: database)).addRoutes(to: router)
    let tokens = TokenStore(database: database)
    QueueController(auth: auth, tokens: tokens).addRoutes(to: router)
    let catalog = CatalogStore(database: database)
    CatalogController(auth: auth, gate: QueueGate(tokens: tokens), catalog: catalog).addRoutes(to: router)
    AdminController(adminKey: settings.adminKey, catalog: catalog).addRoutes(to: router)
    return router
}
