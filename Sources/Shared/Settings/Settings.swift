import Logging

/// Every setting of every Stagedoor process, parsed once from the environment and the command line.
///
/// Durations are in seconds (fractions allowed). Each process reads only the settings it needs,
/// but all three accept all of them so one environment file can serve a whole deployment.
public struct Settings: Sendable, Equatable {
    /// `DATABASE_URL`: `postgres://user:password@host:port/database`. Default `postgres://postgres@127.0.0.1:5432/stagedoor`.
    public var databaseURL: DatabaseURL
    /// `DATABASE_DIRECT_URL`: PostgreSQL itself, for the sessions a transaction pooler cannot carry —
    /// LISTEN, the admission leader's lock, migrations. Default: `DATABASE_URL`.
    public var directDatabaseURL: DatabaseURL
    /// `DATABASE_REPLICA_URLS`: streaming replicas (comma-separated) for reads that tolerate a little
    /// staleness; empty = every read on the primary. See ``Replicas``.
    public var replicaURLs: [DatabaseURL]
    /// `REPLICA_MAX_LAG`: a replica further behind the primary than this is skipped, seconds. Default 1.
    public var replicaMaxLag: Duration
    /// `DATABASE_STATEMENTS`: `named` (prepared once per connection; default) or `unnamed` (sent
    /// whole each time, for PgBouncer in transaction mode before 1.21). See ``StatementStyle``.
    public var statementStyle: StatementStyle
    /// `HOST`: the gateway's bind address. Default `127.0.0.1`.
    public var host: String
    /// `PORT`: the gateway's HTTP port. Default 8080.
    public var port: Int
    /// `ADMIN_KEY`: bearer key for `/v1/admin/*`; unset means admin endpoints refuse everyone.
    public var adminKey: String?
    /// `ADMIT_PER_SECOND`: waiting tokens admitted per second. Default 50.
    public var admitPerSecond: Double
    /// `MAX_ACTIVE`: most active tokens at once. Default 2000.
    public var maxActive: Int
    /// `ACTIVE_TTL`: how long an active token lives, seconds. Default 600.
    public var activeTTL: Duration
    /// `WAITING_IDLE_TTL`: a waiting token not polled for this long expires, seconds. Default 120.
    public var waitingIdleTTL: Duration
    /// `HOLD_TTL`: how long a seat hold lasts, seconds. Default 300.
    public var holdTTL: Duration
    /// `QUEUE_TICK`: the admission tick, seconds. Default 1.
    public var queueTick: Duration
    /// `WORKER_BATCH`: jobs claimed per transaction. Default 32.
    public var workerBatch: Int
    /// `WORKER_CONCURRENCY`: claim loops per payment worker; beyond the first, they run only while
    /// batches come back full (see ``JobWorker``). Default 2.
    public var workerConcurrency: Int
    /// `POLL_INTERVAL`: backstop poll when no notification comes, seconds (jittered ±20 %). Default 1.
    public var pollInterval: Duration
    /// `JOB_MAX_ATTEMPTS`: attempts before a job that keeps throwing is dead. Default 5.
    public var jobMaxAttempts: Int
    /// `NOTIFY_COALESCE`: at most one `jobs` wake-up per this window per process, seconds; 0 = one per job. Default 0.0005.
    public var notifyCoalesce: Duration
    /// `REPLY_TIMEOUT`: how long the gateway waits for a job before answering 202, seconds. Default 5.
    public var replyTimeout: Duration
    /// `REQUEST_TIMEOUT`: deadline on a request's database work before `503 unavailable`, seconds. Default 10.
    public var requestTimeout: Duration
    /// `RATE_LIMIT`: requests per second one API key may send to one gateway (bursts of twice that),
    /// beyond which it gets `429 rate_limited`; 0 = no limit. Default 50.
    public var rateLimit: Double
    /// `MAX_STREAMS`: most open live-update streams per gateway; past it `503` + `Retry-After`, and
    /// clients poll. Default 50,000.
    public var maxStreams: Int
    /// `JOB_RETENTION`: finished jobs (and their idempotency keys) are deleted after this, seconds. Default 86400.
    public var jobRetention: Duration
    /// `STARTUP_TIMEOUT`: how long to retry an unreachable database at start, seconds. Default 30.
    public var startupTimeout: Duration
    /// `SHUTDOWN_TIMEOUT`: how long a graceful shutdown may take after SIGTERM/SIGINT before the
    /// process logs what is still running and exits 1, seconds. Default 30.
    public var shutdownTimeout: Duration
    /// `DB_POOL_SIZE`: most connections this process opens to Postgres. Default 20.
    public var dbPoolSize: Int
    /// `METRICS_PORT`: the workers' `/metrics` + `/healthz` port; unset = none, 0 = any free port (logged).
    public var metricsPort: Int?
    /// `LOG_LEVEL`: trace, debug, info, notice, warning, error, critical. Default info.
    public var logLevel: Logger.Level
    /// `LOG_FORMAT`: `text` or `json`. Default text.
    public var logFormat: LogFormat

    /// `EXECUTOR`: where async code runs — `event-loops` (NIO's threads, which do the I/O; default)
    /// or `pool` (Swift's default executor, a separate thread pool). See ``ProcessMain``.
    public var executor: Executor

    /// `EVENT_LOOPS`: how many NIO event-loop threads the process runs (its HTTP server's and
    /// database connections' I/O, and with `EXECUTOR=event-loops` its async code); 0 = one per core.
    /// Default 0. See ``ProcessMain/runAsyncCodeOnEventLoops()`` for when fewer pay.
    public var eventLoops: Int

    /// Where a process runs its async code.
    public enum Executor: String, Sendable, Equatable {
        case eventLoops = "event-loops"
        case pool
    }

    /// How log lines are written.
    public enum LogFormat: String, Sendable, Equatable {
        case text, json
    }

    /// The settings with every default, for tests and tools.
    public static var defaults: Settings {
        // Parsing an empty set of values cannot fail: every key has a valid default.
        try! Settings(values: [:])
    }
}

/// A setting that could not be used, named so the operator can fix it.
public struct SettingsError: Error, CustomStringConvertible, Equatable {
    /// The environment variable name of the setting, e.g. `ADMIT_PER_SECOND`.
    public var key: String
    /// The value as given.
    public var value: String
    /// What was expected instead.
    public var expected: String

    public var description: String {
        "invalid \(key)=\"\(value)\": expected \(expected)"
    }
}
