import Hummingbird
import HummingbirdCore
import Logging
import PostgresNIO
import ServiceLifecycle
import Shared

/// The gateway's services, in start order: the pool, the reply listener and the NOTIFY coalescer,
/// then the HTTP application (which waits for the database and migrates before it starts listening).
func buildGateway(settings: Settings) -> [any Service] {
    let process = "gateway"
    let client = Database.makeClient(settings, process: process)
    let parts = GatewayParts(settings: settings, client: client)
    // The stream keeper last: the first to stop, it ends every open stream, so the HTTP server's
    // graceful shutdown does not wait for them.
    return [client] + parts.services + [buildApplication(settings: settings, client: client, parts: parts)]
        + [StreamKeeper(line: parts.line, client: client, logger: Observability.logger(process, "streams"))]
}

/// What the routes share with the gateway's background services.
struct GatewayParts: Sendable {
    let board = ReplyBoard()
    let line: LiveLine
    let coalescer: NotifyCoalescer?
    let listener: NotificationListener
    let jobs: JobStore
    /// Every write's enqueue: one batcher, so a batch of mixed writes is one round trip.
    let bookingJobs: BookingJobs
    /// The streaming replicas the stale-tolerant reads go to (none: all on the primary).
    let replicas: Replicas

    init(settings: Settings, client: PostgresClient) {
        let plain = JobStore(client: client, logger: Observability.logger("gateway", "jobs"))
        let coalescer = settings.notifyCoalesce > .zero
            ? NotifyCoalescer(window: settings.notifyCoalesce, logger: Observability.logger("gateway", "coalescer")) {
                try await plain.notifyWorkers()
            }
            : nil
        let board = self.board
        let line = LiveLine(maxStreams: settings.maxStreams)
        self.line = line
        self.coalescer = coalescer
        self.jobs = JobStore(client: client, coalescer: coalescer, logger: Observability.logger("gateway", "jobs"))
        self.bookingJobs = BookingJobs(jobs: jobs)
        self.replicas = Replicas(urls: settings.replicaURLs, primary: client, maxLag: settings.replicaMaxLag,
                                 poolSize: settings.dbPoolSize, process: "gateway", logger: Observability.logger("gateway", "replicas"))
        self.listener = NotificationListener(
            url: settings.directDatabaseURL, channels: [board.channel, AdmissionNotice.channel],
            applicationName: "stagedoor-gateway-replies", logger: Observability.logger("gateway", "replies"),
            onConnect: {
                board.rescan()
                Task { await line.reload(client, logger: Observability.logger("gateway", "streams")) }
            },
            onNotification: { channel, payload in
                if channel == AdmissionNotice.channel {
                    line.apply(AdmissionNotice.parse(payload))
                } else {
                    board.finished(payload: payload)
                }
            })
    }

    /// The background services the routes need running.
    var services: [any Service] { [listener, replicas] + (coalescer.map { [$0] } ?? []) }
}

/// The HTTP application over `client`; tests build the router the same way.
func buildApplication(settings: Settings, client: PostgresClient, parts: GatewayParts) -> some ApplicationProtocol {
    let logger = Observability.logger("gateway", "http")
    let (router, events) = buildRoutes(settings: settings, client: client, parts: parts, logger: logger)
    let serverName = "stagedoor-gateway"
    let streams = StreamDoor(auth: events.auth, events: events, serverName: serverName)
    var app = Application(
        responder: gatewayResponder(router),
        server: HTTPServerBuilder { responder in GatewayChannel(responder: responder, streams: streams) },
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: serverName),
        onServerRunning: { channel in
            logger.info("listening", metadata: ["url": "http://\(settings.host):\(channel.localAddress?.port ?? settings.port)"])
        },
        logger: logger)
    app.beforeServerStarts {
        try await DatabaseStartup.prepare(client, settings: settings, logger: Observability.logger("gateway", "startup"))
    }
    return app
}

/// Every route with its middleware.
func buildRouter(settings: Settings, client: PostgresClient, parts: GatewayParts, logger: Logger) -> Router<BasicRequestContext> {
    buildRoutes(settings: settings, client: client, parts: parts, logger: logger).router
}

/// Every route with its middleware, and the live-update streams' route (served on event loops too).
func buildRoutes(settings: Settings, client: PostgresClient, parts: GatewayParts, logger: Logger)
    -> (router: Router<BasicRequestContext>, events: TokenEvents) {
    let database = GatewayDatabase(client: client, replicas: parts.replicas, deadline: settings.requestTimeout,
                                   logger: Observability.logger("gateway", "db"))
    let auth = Authenticator(database: database, rateLimit: settings.rateLimit)
    let tokens = TokenStore(database: database)
    let catalog = CatalogStore(database: database)
    let rooms = RoomStore(database: database)
    let replies = JobReplies(jobs: parts.jobs, booking: parts.bookingJobs, board: parts.board, database: database, replyTimeout: settings.replyTimeout,
                             maxAttempts: settings.jobMaxAttempts)
    let router = Router()
    router.middlewares.add(RequestMetricsMiddleware())
    router.middlewares.add(ProblemMiddleware(logger: logger))
    OperationsRoutes.add(to: router, client: client, logger: logger)
    OpenAPIDocument.addRoute(to: router)
    WebPages.addRoutes(to: router)
    UsersController(users: UserStore(database: database)).addRoutes(to: router)
    QueueController(auth: auth, tokens: tokens, rooms: rooms).addRoutes(to: router)
    let events = TokenEvents(auth: auth, tokens: tokens, line: parts.line)
    router.get(RouterPath(Routes.tokenEvents)) { request, _ in try await events.stream(request) }
    CatalogController(auth: auth, gate: QueueGate(tokens: tokens), catalog: catalog).addRoutes(to: router)
    AdminController(adminKey: settings.adminKey, catalog: catalog, rooms: rooms, jobs: parts.jobs, database: database).addRoutes(to: router)
    PointsController(auth: auth, database: database, replies: replies).addRoutes(to: router)
    JobsController(auth: auth, database: database, jobs: parts.jobs).addRoutes(to: router)
    ReservationsController(auth: auth, database: database, replies: replies).addRoutes(to: router)
    return (router, events)
}
