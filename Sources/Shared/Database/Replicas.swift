import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Streaming replicas (`DATABASE_REPLICA_URLS`) for the reads that tolerate a little staleness, each
/// used only while it is known to be at most `REPLICA_MAX_LAG` behind the primary.
///
/// How far behind: every `interval` the monitor reads the primary's WAL position and each replica's
/// replayed position. A replica is fresh when it has replayed at least what the primary had written
/// `maxLag` ago (the newest primary sample at least that old): then nothing it misses is older than
/// `maxLag`. A replica that does not answer within the interval's budget, is not in recovery, or
/// lags more, is skipped until a later round finds it fresh; a primary with no writes keeps every
/// live replica fresh (there is nothing to miss). Until the first sample old enough exists (the
/// first `maxLag` after start), every read goes to the primary.
public final class Replicas: Service, Sendable {
    /// One replica: its pool and what the monitor last found.
    struct Replica: Sendable {
        let url: DatabaseURL
        let client: PostgresClient
    }

    struct State {
        /// The primary's WAL positions, oldest first, with when they were read.
        var samples: [(at: ContinuousClock.Instant, lsn: Int64)] = []
        var fresh: [Bool]
        var turn = 0
    }

    let primary: PostgresClient
    let replicas: [Replica]
    let maxLag: Duration
    let interval: Duration
    let logger: Logger
    private let state: Mutex<State>

    public init(urls: [DatabaseURL], primary: PostgresClient, maxLag: Duration, poolSize: Int, process: String,
                interval: Duration = .milliseconds(200), logger: Logger) {
        self.primary = primary
        self.replicas = urls.map { url in
            Replica(url: url, client: PostgresClient(
                configuration: url.clientConfiguration(poolSize: poolSize, applicationName: "stagedoor-\(process)-replica"),
                backgroundLogger: logger))
        }
        self.maxLag = maxLag
        self.interval = interval
        self.logger = logger
        self.state = Mutex(State(fresh: Array(repeating: false, count: urls.count)))
    }

    /// Whether any replica is configured.
    public var isEmpty: Bool { replicas.isEmpty }

    /// A fresh replica's pool, taking turns among the fresh ones; nil when none is fresh (read from the primary).
    public func pick() -> PostgresClient? {
        state.withLock { state -> PostgresClient? in
            let fresh = state.fresh.indices.filter { state.fresh[$0] }
            guard !fresh.isEmpty else { return nil }
            state.turn &+= 1
            return replicas[fresh[state.turn % fresh.count]].client
        }
    }

    /// Whether any replica is fresh now.
    public var hasFresh: Bool { state.withLock { $0.fresh.contains(true) } }

    /// Which replicas are fresh now, in the order of `DATABASE_REPLICA_URLS` (for tests and logs).
    public var freshness: [Bool] { state.withLock { $0.fresh } }

    /// Marks the replica behind `client` stale until the monitor finds it fresh again (a read on it failed).
    public func distrust(_ client: PostgresClient) {
        guard let index = replicas.firstIndex(where: { $0.client === client }) else { return }
        state.withLock { $0.fresh[index] = false }
    }

    /// Runs the replicas' pools and the monitor until the service group stops.
    public func run() async throws {
        // Ending early would end the whole service group: with no replica, it waits for the shutdown.
        guard !replicas.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        await withDiscardingTaskGroup { group in
            for replica in replicas { group.addTask { await replica.client.run() } }
            group.addTask { await self.monitor() }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    private func monitor() async {
        var lastFresh: [Bool] = state.withLock { $0.fresh }
        while !Task.isCancelled {
            let started = ContinuousClock.now
            // Abandoned past the budget rather than awaited: a query on a session the server
            // terminated can wait forever in PostgresNIO, and the monitor must not stall on it.
            let primaryLSN = try? await withAbandonableDeadline(interval * 5) { try await Self.position(self.primary, "pg_current_wal_lsn()", logger: self.logger) }
            var replayed: [Int64?] = []
            for replica in replicas {
                replayed.append(try? await withAbandonableDeadline(interval * 2) {
                    try await Self.position(replica.client, "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() END", logger: self.logger)
                })
            }
            let fresh = state.withLock { state -> [Bool] in
                if let primaryLSN { state.samples.append((started, primaryLSN)) }
                // Keep the newest sample that is at least maxLag old, and everything after it.
                if let keep = state.samples.lastIndex(where: { started - $0.at >= maxLag }), keep > 0 {
                    state.samples.removeFirst(keep)
                }
                let reference = state.samples.first.flatMap { started - $0.at >= maxLag ? $0.lsn : nil }
                state.fresh = replayed.map { lsn in
                    guard let lsn, let reference else { return false }
                    return lsn >= reference
                }
                return state.fresh
            }
            if fresh != lastFresh {
                for (index, now) in fresh.enumerated() where now != lastFresh[index] {
                    logger.notice(now ? "replica fresh: reading from it" : "replica stale or unreachable: reading elsewhere",
                                  metadata: ["replica": "\(replicas[index].url)", "maxLag": "\(maxLag)"])
                }
                lastFresh = fresh
            }
            try? await Task.sleep(until: started + interval)
        }
    }

    /// A WAL position (`expression` of type pg_lsn) as a byte offset; nil when the expression is NULL.
    private static func position(_ client: PostgresClient, _ expression: String, logger: Logger) async throws -> Int64? {
        var value: Int64?
        for try await offset in try await client.query(
            PostgresQuery(unsafeSQL: "SELECT ((\(expression)) - '0/0'::pg_lsn)::bigint"), logger: logger).decode(Int64?.self) {
            value = offset
        }
        return value
    }
}
