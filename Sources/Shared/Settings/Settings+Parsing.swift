import Logging

extension Settings {
    /// Parses settings from environment-style values (`ADMIT_PER_SECOND` → "50"); missing keys take defaults.
    /// - Throws: ``SettingsError`` naming the first value that is invalid.
    public init(values: [String: String]) throws {
        let reader = Reader(values: values)
        databaseURL = try reader.value("DATABASE_URL", default: "postgres://postgres@127.0.0.1:5432/stagedoor",
                                       expected: "postgres://user[:password]@host[:port]/database") { DatabaseURL(parsing: $0) }
        directDatabaseURL = try reader.value("DATABASE_DIRECT_URL", default: databaseURL.urlString,
                                             expected: "postgres://user[:password]@host[:port]/database") { DatabaseURL(parsing: $0) }
        replicaURLs = try (values["DATABASE_REPLICA_URLS"] ?? "").split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }.map { raw in
            guard let url = DatabaseURL(parsing: raw) else {
                throw SettingsError(key: "DATABASE_REPLICA_URLS", value: raw, expected: "comma-separated postgres://user[:password]@host[:port]/database")
            }
            return url
        }
        replicaMaxLag = try reader.seconds("REPLICA_MAX_LAG", default: 1)
        statementStyle = try reader.value("DATABASE_STATEMENTS", default: "named", expected: "named or unnamed") { StatementStyle(rawValue: $0.lowercased()) }
        host = try reader.value("HOST", default: "127.0.0.1", expected: "an address to bind") { $0.isEmpty ? nil : $0 }
        port = try reader.int("PORT", default: 8080, in: 0...65535)
        adminKey = values["ADMIN_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        admitPerSecond = try reader.double("ADMIT_PER_SECOND", default: 50, in: 0.001...1_000_000)
        maxActive = try reader.int("MAX_ACTIVE", default: 2000, in: 1...100_000_000)
        activeTTL = try reader.seconds("ACTIVE_TTL", default: 600)
        waitingIdleTTL = try reader.seconds("WAITING_IDLE_TTL", default: 120)
        holdTTL = try reader.seconds("HOLD_TTL", default: 300)
        queueTick = try reader.seconds("QUEUE_TICK", default: 1)
        workerBatch = try reader.int("WORKER_BATCH", default: 32, in: 1...1000)
        workerConcurrency = try reader.int("WORKER_CONCURRENCY", default: 2, in: 1...256)
        pollInterval = try reader.seconds("POLL_INTERVAL", default: 1)
        jobMaxAttempts = try reader.int("JOB_MAX_ATTEMPTS", default: 5, in: 1...100)
        notifyCoalesce = try reader.seconds("NOTIFY_COALESCE", default: 0.0005, allowZero: true)
        replyTimeout = try reader.seconds("REPLY_TIMEOUT", default: 5, allowZero: true)
        requestTimeout = try reader.seconds("REQUEST_TIMEOUT", default: 10)
        rateLimit = try reader.double("RATE_LIMIT", default: 50, in: 0...1_000_000)
        maxStreams = try reader.int("MAX_STREAMS", default: 50_000, in: 0...10_000_000)
        jobRetention = try reader.seconds("JOB_RETENTION", default: 86400)
        startupTimeout = try reader.seconds("STARTUP_TIMEOUT", default: 30, allowZero: true)
        shutdownTimeout = try reader.seconds("SHUTDOWN_TIMEOUT", default: 30)
        dbPoolSize = try reader.int("DB_POOL_SIZE", default: 20, in: 2...1000)
        metricsPort = try values["METRICS_PORT"].flatMap { $0.isEmpty ? nil : $0 }.map { _ in
            try reader.int("METRICS_PORT", default: 0, in: 0...65535)
        }
        logLevel = try reader.value("LOG_LEVEL", default: "info",
                                    expected: "trace, debug, info, notice, warning, error or critical") { Logger.Level(rawValue: $0.lowercased()) }
        logFormat = try reader.value("LOG_FORMAT", default: "text", expected: "text or json") { LogFormat(rawValue: $0.lowercased()) }
        executor = try reader.value("EXECUTOR", default: "event-loops", expected: "event-loops or pool") { Executor(rawValue: $0.lowercased()) }
        eventLoops = try reader.int("EVENT_LOOPS", default: 0, in: 0...256)
    }

    /// The settings' environment names, in the order they are documented.
    public static let keys: [String] = [
        "DATABASE_URL", "DATABASE_DIRECT_URL", "DATABASE_REPLICA_URLS", "REPLICA_MAX_LAG", "DATABASE_STATEMENTS", "HOST", "PORT", "ADMIN_KEY", "ADMIT_PER_SECOND", "MAX_ACTIVE", "ACTIVE_TTL",
        "WAITING_IDLE_TTL", "HOLD_TTL", "QUEUE_TICK", "WORKER_BATCH", "WORKER_CONCURRENCY", "POLL_INTERVAL",
        "JOB_MAX_ATTEMPTS", "NOTIFY_COALESCE", "REPLY_TIMEOUT", "REQUEST_TIMEOUT", "RATE_LIMIT", "MAX_STREAMS", "JOB_RETENTION",
        "STARTUP_TIMEOUT", "SHUTDOWN_TIMEOUT", "DB_POOL_SIZE", "METRICS_PORT", "LOG_LEVEL", "LOG_FORMAT", "EXECUTOR",
        "EVENT_LOOPS",
    ]
}

/// Reads typed values out of the raw strings, naming the key on failure.
private struct Reader {
    let values: [String: String]

    func value<T>(_ key: String, default fallback: String, expected: String, _ parse: (String) -> T?) throws -> T {
        let raw = values[key].map { $0.trimmingWhitespace() }.flatMap { $0.isEmpty ? nil : $0 } ?? fallback
        guard let parsed = parse(raw) else { throw SettingsError(key: key, value: raw, expected: expected) }
        return parsed
    }

    func int(_ key: String, default fallback: Int, in range: ClosedRange<Int>) throws -> Int {
        try value(key, default: String(fallback), expected: "a whole number from \(range.lowerBound) to \(range.upperBound)") {
            Int($0).flatMap { range.contains($0) ? $0 : nil }
        }
    }

    func double(_ key: String, default fallback: Double, in range: ClosedRange<Double>) throws -> Double {
        try value(key, default: String(fallback), expected: "a number from \(range.lowerBound) to \(range.upperBound)") {
            Double($0).flatMap { $0.isFinite && range.contains($0) ? $0 : nil }
        }
    }

    func seconds(_ key: String, default fallback: Double, allowZero: Bool = false) throws -> Duration {
        let expected = allowZero ? "a number of seconds, 0 or more" : "a number of seconds above 0"
        return try value(key, default: String(fallback), expected: expected) { raw in
            guard let seconds = Double(raw), seconds.isFinite, seconds <= 31_536_000,
                  seconds > 0 || (allowZero && seconds == 0) else { return nil }
            // To the microsecond (a sub-millisecond window must not round to 0 or to 1 ms); a
            // positive value never becomes zero.
            return seconds == 0 ? .zero : .microseconds(max(1, Int64((seconds * 1_000_000).rounded())))
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
