import Crypto
import Logging
import Migrations
import PostgresNIO

/// Brings a database to the embedded schema: pending migrations, in order, then every function file
/// that is new or whose text changed since it was applied.
///
/// Safe when many processes start at once: the whole pass runs under a session advisory lock, so one
/// process applies and the others wait, then find nothing left to do. Each file commits together
/// with its row in `schema_migrations` (its name and the SHA-256 of its text).
public struct Migrator: Sendable {
    /// The advisory lock key of the migration pass ("stagedoor migrate").
    static let lockKey: Int64 = 0x5354_4744_4d49_4752

    let migrations: [SchemaFile]
    let functions: [SchemaFile]
    let logger: Logger

    /// A migrator for the embedded schema (or another, for tests).
    public init(migrations: [SchemaFile] = Migrations.migrations, functions: [SchemaFile] = Migrations.functions, logger: Logger) {
        self.migrations = migrations
        self.functions = functions
        self.logger = logger
    }

    /// The SHA-256 of a file's text, in hex: what `schema_migrations.checksum` records.
    public static func checksum(_ file: SchemaFile) -> String {
        SHA256.hash(data: Array(file.sql.utf8)).map { String(format: "%02x", $0) }.joined()
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
        try await refusePreBaseline(on: connection)
        for statement in SQLScript.statements(in: Migrations.bookkeeping.sql) {
            try await connection.run(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
        var recorded: [String: String] = [:]
        for try await (name, checksum) in try await connection.query("SELECT name, checksum FROM schema_migrations", logger: logger)
            .decode((String, String).self) {
            recorded[name] = checksum
        }
        var applied: [String] = []
        for migration in migrations {
            let checksum = Self.checksum(migration)
            if let before = recorded[migration.name] {
                guard before == checksum || migration.formerChecksums.contains(before) else {
                    throw MigrationError.migrationChanged(name: migration.name)
                }
                continue
            }
            try await apply(migration, checksum: checksum, on: connection)
            applied.append(migration.name)
        }
        // After the tables, so a function's triggers find theirs. Bodies are checked when they run,
        // not here: one function may call another that is applied after it.
        for function in functions {
            let checksum = Self.checksum(function)
            if recorded[function.name] == checksum { continue }
            try await apply(function, checksum: checksum, on: connection, prelude: "SET LOCAL check_function_bodies = off")
            applied.append(function.name)
        }
        return applied
    }

    /// One file and its bookkeeping row, in one transaction.
    private func apply(_ file: SchemaFile, checksum: String, on connection: PostgresConnection, prelude: String? = nil) async throws {
        try await connection.run("BEGIN", logger: logger)
        do {
            if let prelude { try await connection.run(PostgresQuery(unsafeSQL: prelude), logger: logger) }
            for statement in SQLScript.statements(in: file.sql) {
                try await connection.run(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            try await connection.run(
                """
                INSERT INTO schema_migrations (name, checksum) VALUES (\(file.name), \(checksum))
                ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum, applied_at = now()
                """, logger: logger)
            try await connection.run("COMMIT", logger: logger)
        } catch {
            await connection.rollbackOrClose(within: .seconds(5), logger: logger)
            // The server's own words, and which file: a bare PSQLError prints a generic description.
            if let error = error as? PSQLError, let message = error.serverInfo?[.message] {
                throw StartupError(message: "sql/\(file.name) could not be applied: \(message)")
            }
            throw error
        }
        logger.info("applied migration", metadata: ["migration": "\(file.name)"])
    }

    /// A database made before the baseline (numbered migrations 001–014, a `version` column) cannot
    /// be told apart from a half-migrated one by its tables alone; it is refused, not guessed at.
    private func refusePreBaseline(on connection: PostgresConnection) async throws {
        let rows = try await connection.query(
            """
            SELECT EXISTS (SELECT 1 FROM information_schema.columns
                           WHERE table_schema = current_schema() AND table_name = 'schema_migrations' AND column_name = 'version')
            """, logger: logger)
        for try await old in rows.decode(Bool.self) where old { throw MigrationError.preBaselineDatabase }
    }
}

/// Why a database cannot be brought to the embedded schema.
public enum MigrationError: Error, CustomStringConvertible {
    /// The database was made by the numbered migrations that preceded the baseline.
    case preBaselineDatabase
    /// A migration already applied has other text now: migrations are never edited once applied.
    case migrationChanged(name: String)

    public var description: String {
        switch self {
        case .preBaselineDatabase:
            "the database was made by an older Stagedoor (migrations numbered 001-014, before the schema baseline); "
                + "reset it: `make reset` removes the local data dirs of `make run` and `make up`; elsewhere drop and recreate the database"
        case .migrationChanged(let name):
            "sql/\(name) has changed since it was applied to this database; migrations are never edited once applied: "
                + "reset the database (`make reset` for the local data dirs of `make run` and `make up`) or add a new migration"
        }
    }
}
