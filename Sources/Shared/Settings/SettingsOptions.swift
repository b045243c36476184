import ArgumentParser

/// The command-line flags of every process: one flag per setting, named like its environment variable
/// (`--admit-per-second` for `ADMIT_PER_SECOND`). A flag wins over the environment.
public struct SettingsOptions: ParsableArguments, Sendable {
    @Option(help: "DATABASE_URL: postgres://user[:password]@host[:port]/database") var databaseUrl: String?
    @Option(help: "DATABASE_DIRECT_URL: PostgreSQL itself, for LISTEN, the leader's lock and migrations (DATABASE_URL)") var databaseDirectUrl: String?
    @Option(help: "DATABASE_REPLICA_URLS: streaming replicas for stale-tolerant reads, comma-separated (none)") var databaseReplicaUrls: String?
    @Option(help: "REPLICA_MAX_LAG: seconds a replica may lag before reads skip it (1)") var replicaMaxLag: String?
    @Option(help: "DATABASE_STATEMENTS: named|unnamed; unnamed for a transaction-mode PgBouncer before 1.21 (named)") var databaseStatements: String?
    @Option(help: "HOST: gateway bind address (127.0.0.1)") var host: String?
    @Option(help: "PORT: gateway HTTP port (8080)") var port: String?
    @Option(help: "ADMIN_KEY: bearer key for /v1/admin (unset: admin refuses all)") var adminKey: String?
    @Option(help: "ADMIT_PER_SECOND: tokens admitted per second (50)") var admitPerSecond: String?
    @Option(help: "MAX_ACTIVE: most active tokens at once (2000)") var maxActive: String?
    @Option(help: "ACTIVE_TTL: seconds an active token lives (600)") var activeTtl: String?
    @Option(help: "WAITING_IDLE_TTL: seconds a waiting token lives without a poll (120)") var waitingIdleTtl: String?
    @Option(help: "HOLD_TTL: seconds a seat hold lasts (300)") var holdTtl: String?
    @Option(help: "QUEUE_TICK: seconds between admission ticks (1)") var queueTick: String?
    @Option(help: "WORKER_BATCH: jobs claimed per transaction (32)") var workerBatch: String?
    @Option(help: "WORKER_CONCURRENCY: claim loops per payment worker (2)") var workerConcurrency: String?
    @Option(help: "POLL_INTERVAL: seconds between backstop polls (1)") var pollInterval: String?
    @Option(help: "JOB_MAX_ATTEMPTS: attempts before a throwing job is dead (5)") var jobMaxAttempts: String?
    @Option(help: "NOTIFY_COALESCE: seconds; at most one jobs wake-up per window (0.0005; 0 = every job)") var notifyCoalesce: String?
    @Option(help: "REPLY_TIMEOUT: seconds the gateway waits for a job before 202 (5)") var replyTimeout: String?
    @Option(help: "REQUEST_TIMEOUT: seconds of database work before 503 (10)") var requestTimeout: String?
    @Option(help: "RATE_LIMIT: requests/s per API key per gateway before 429, bursts of twice that (50; 0 = none)") var rateLimit: String?
    @Option(help: "MAX_STREAMS: most open live-update streams per gateway; past it 503 and clients poll (50000)") var maxStreams: String?
    @Option(help: "JOB_RETENTION: seconds finished jobs are kept (86400)") var jobRetention: String?
    @Option(help: "STARTUP_TIMEOUT: seconds to retry the database at start (30)") var startupTimeout: String?
    @Option(help: "SHUTDOWN_TIMEOUT: seconds a graceful shutdown may take before the process exits 1 (30)") var shutdownTimeout: String?
    @Option(help: "DB_POOL_SIZE: most Postgres connections of this process (20)") var dbPoolSize: String?
    @Option(help: "METRICS_PORT: workers' /metrics port (unset: none; 0: any free port)") var metricsPort: String?
    @Option(help: "LOG_LEVEL: trace|debug|info|notice|warning|error|critical (info)") var logLevel: String?
    @Option(help: "LOG_FORMAT: text|json (text)") var logFormat: String?
    @Option(help: "EXECUTOR: event-loops|pool, where async code runs (event-loops)") var executor: String?
    @Option(help: "EVENT_LOOPS: NIO event-loop threads of this process (0 = one per core)") var eventLoops: String?

    public init() {}

    /// The flags that were given, keyed by their environment variable names.
    public var givenValues: [String: String] {
        let pairs: [(String, String?)] = [
            ("DATABASE_URL", databaseUrl), ("DATABASE_DIRECT_URL", databaseDirectUrl), ("DATABASE_REPLICA_URLS", databaseReplicaUrls), ("REPLICA_MAX_LAG", replicaMaxLag), ("DATABASE_STATEMENTS", databaseStatements), ("HOST", host), ("PORT", port), ("ADMIN_KEY", adminKey),
            ("ADMIT_PER_SECOND", admitPerSecond), ("MAX_ACTIVE", maxActive), ("ACTIVE_TTL", activeTtl),
            ("WAITING_IDLE_TTL", waitingIdleTtl), ("HOLD_TTL", holdTtl), ("QUEUE_TICK", queueTick),
            ("WORKER_BATCH", workerBatch), ("WORKER_CONCURRENCY", workerConcurrency),
            ("POLL_INTERVAL", pollInterval), ("JOB_MAX_ATTEMPTS", jobMaxAttempts),
            ("NOTIFY_COALESCE", notifyCoalesce), ("REPLY_TIMEOUT", replyTimeout),
            ("REQUEST_TIMEOUT", requestTimeout), ("RATE_LIMIT", rateLimit), ("MAX_STREAMS", maxStreams), ("JOB_RETENTION", jobRetention),
            ("STARTUP_TIMEOUT", startupTimeout), ("SHUTDOWN_TIMEOUT", shutdownTimeout), ("DB_POOL_SIZE", dbPoolSize), ("METRICS_PORT", metricsPort),
            ("LOG_LEVEL", logLevel), ("LOG_FORMAT", logFormat), ("EXECUTOR", executor),
            ("EVENT_LOOPS", eventLoops),
        ]
        return Dictionary(uniqueKeysWithValues: pairs.compactMap { key, value in value.map { (key, $0) } })
    }

    /// The settings: flags over environment over defaults.
    public func settings(environment: [String: String]) throws -> Settings {
        let known = environment.filter { Settings.keys.contains($0.key) }
        return try Settings(values: known.merging(givenValues) { _, flag in flag })
    }
}
