import Logging
import Migrations
import PostgresNIO

/// Applies the embedded migrations that a database has not seen yet.
///
/// Safe when many processes start at once: the whole pass runs under a session advisory lock, so one
/// process applies and the others wait, then find nothing left to do. Each migration commits
/// together with its row in `schema_migrations`.
public struct Migrator: Sendable {
    /// The advisory lock key of the migration pass ("stagedoor migrate").
    static let lockKey: Int64 = 0x5354_4744_4d49_4752

    let migrations: [Migration]
    let logger: Logger

    /// A migrator for the embedded migrations (or others, for tests).
    public init(migrations: [Migration] = Migrations.all, logger: Logger) {
        self.migrations = migrations
        self.logger = logger
    }

    /// Applies what is pending; returns the names applied by this call.
    @discardableResult
    public func migrate(_ client: PostgresClient) async throws -> [String] {
        try await client.withConnection { connection in
            try await connection.run("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
            do {
                let applied = try await applyPending(on: connection)
                try await connection.run("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                return applied
            } catch {
                // Closing is not ours to do; unlocking is. If this fails too, the session end frees it.
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                throw error
            }
        }
    }

    private func applyPending(on connection: PostgresConnection) async throws -> [String] {
        for statement in SQLScript.statements(in: Migrations.bookkeeping.sql) {
            try await connection.run(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
        var done = Set<Int>()
        for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger)
            .decode(Int.self) {
            done.insert(version)
        }
        var applied: [String] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) where !done.contains(migration.version) {
            try await connection.run("BEGIN", logger: logger)
            do {
                for statement in SQLScript.statements(in: migration.sql) {
                    try await connection.run(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.run(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger)
                try await connection.run("COMMIT", logger: logger)
            } catch {
                await connection.rollbackOrClose(within: .seconds(5), logger: logger)
                throw error
            }
            logger.info("applied migration", metadata: ["migration": "\(migration.name)"])
            applied.append(migration.name)
        }
        return applied
    }
}
