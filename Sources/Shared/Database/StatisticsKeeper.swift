import Logging
import PostgresNIO
import ServiceLifecycle

/// Re-analyzes the hot tables when they have changed a lot since their last statistics: about
/// each time one doubles.
///
/// When a sale opens, `jobs`, `reservations` and `seats` change faster than autovacuum looks
/// (once a minute). Until it does, the planner plans against the nearly empty tables it last saw,
/// and each session's prepared statements keep those plans: measured in `make bench`, counting a
/// user's holds walked every held seat of the schedule, and claims read thousands of dead index
/// entries. An `ANALYZE` gives fresh statistics and makes every session plan again.
public struct StatisticsKeeper: Service {
    /// The tables a sale writes to, fastest first.
    public static let hotTables = ["jobs", "reservations", "seats", "queue_tokens", "wallets", "point_history", "payments"]

    let client: PostgresClient
    let every: Duration
    let logger: Logger

    public init(client: PostgresClient, every: Duration = .seconds(5), logger: Logger) {
        self.client = client
        self.every = every
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await withDeadline(.seconds(30)) { try await refresh() }
                } catch {
                    logger.warning("statistics refresh failed", metadata: ["error": "\(String(reflecting: error))"])
                }
                try? await Task.sleep(for: every)
            }
        }
    }

    /// Analyzes each hot table with more than 500 changes since its last analyze, and at least as
    /// many changes as it has live rows: a table that grows is analyzed each time it about doubles.
    ///
    /// Plans go wrong between a nearly empty table and a full one; they do not change between 40,000
    /// rows and 50,000. With the earlier rule (20 % changed) a sale's `jobs` table, growing by
    /// thousands of rows a second, was analyzed every 5 s for as long as the sale lasted, and each
    /// analyze — 30–115 ms of a core on this 2-core machine, and every session planning again — was
    /// a stall in the booking open loop: at 2,500 reservations/s the seconds holding the answers
    /// over 50 ms were the seconds of those analyzes (wrk timeline against the server log,
    /// 2026-11-25). Doubling takes a table from 500 to 64,000 rows in 8 analyzes.
    public func refresh() async throws {
        var stale: [String] = []
        let rows = try await client.query(
            """
            SELECT relname FROM pg_stat_user_tables
            WHERE relname = ANY(\(Self.hotTables)) AND schemaname = current_schema()
              AND n_mod_since_analyze > 500 AND n_mod_since_analyze >= GREATEST(n_live_tup, 1)
            """, logger: logger)
        for try await name in rows.decode(String.self) where Self.hotTables.contains(name) { stale.append(name) }
        guard !stale.isEmpty else { return }
        try await client.inTransaction(logger: logger) { connection in
            try await connection.run("SET LOCAL default_statistics_target = \(unescaped: String(Self.statisticsTarget))", logger: logger)
            for table in stale {
                try await connection.run("ANALYZE \(unescaped: table)", logger: logger)
                logger.debug("analyzed", metadata: ["table": "\(table)"])
            }
        }
    }

    /// The sample these analyzes take: 300 × this many rows (PostgreSQL's default is 100, 30,000
    /// rows). Coarse statistics are enough to stop plans made on empty tables; autovacuum's own
    /// analyzes refine them later. Measured on 2 cores: at the default, analyzing `jobs` (19,000 rows)
    /// took 112 ms and `queue_tokens` 43 ms, every 5 s while a sale grows the tables, and auto_explain
    /// caught 50–85 ms stalls of claims, enqueues and reservations at the same 5 s cadence; at 10,
    /// 17 ms and 8 ms.
    static let statisticsTarget = 10
}
