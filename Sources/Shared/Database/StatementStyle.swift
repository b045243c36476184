import Logging
import PostgresNIO
import Synchronization

/// How a process sends its prepared statements to PostgreSQL (`DATABASE_STATEMENTS`).
///
/// PostgresNIO prepares a ``PostgresPreparedStatement`` once per connection under its name (Parse,
/// Describe, Sync), then only binds and executes it (Bind, Execute, Sync) — two exchanges the first
/// time, each its own transaction outside BEGIN. Behind PgBouncer in transaction mode before 1.21,
/// the server connection can change between them and afterwards, and the name is unknown where the
/// Bind lands ("prepared statement … does not exist"). The unnamed style sends the same SQL and
/// bindings whole with every execution (Parse, Describe, Bind, Execute, Sync in one flush): one
/// exchange, one server, whatever the pooler does.
public enum StatementStyle: String, Sendable, Equatable, CaseIterable {
    /// Prepared once per connection, then bound and executed by name. The default; needs each
    /// connection to keep its server session (PostgreSQL direct, or a session-mode pooler).
    case named
    /// Parsed with every execution as the unnamed statement: for transaction-mode poolers.
    case unnamed

    private static let processStyle = Mutex(StatementStyle.named)

    /// The style this process uses: `DATABASE_STATEMENTS`, set once at start by ``ProcessMain``
    /// (``named`` in tests and tools that do not set it).
    public static var current: StatementStyle {
        get { processStyle.withLock { $0 } }
        set { processStyle.withLock { $0 = newValue } }
    }

    /// The statement as an unnamed query: the same SQL and bindings.
    static func unnamedQuery<Statement: PostgresPreparedStatement>(_ statement: Statement) throws -> PostgresQuery {
        PostgresQuery(unsafeSQL: Statement.sql, binds: try statement.makeBindings())
    }
}

extension PostgresConnection {
    /// Executes `statement` in `style` (the process's by default): PostgresNIO's `execute` when
    /// named, the same SQL as an unnamed query otherwise. Rows decode the same either way.
    public func executeStatement<Statement: PostgresPreparedStatement>(
        _ statement: Statement, style: StatementStyle = .current, logger: Logger
    ) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, Statement.Row> {
        switch style {
        case .named:
            return try await execute(statement, logger: logger)
        case .unnamed:
            return try await query(StatementStyle.unnamedQuery(statement), logger: logger).map { try statement.decodeRow($0) }
        }
    }
}

extension PostgresClient {
    /// Executes `statement` on a pooled connection in `style` (the process's by default); see
    /// ``PostgresConnection/executeStatement(_:style:logger:)``.
    public func executeStatement<Statement: PostgresPreparedStatement>(
        _ statement: Statement, style: StatementStyle = .current, logger: Logger
    ) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, Statement.Row> {
        switch style {
        case .named:
            return try await execute(statement, logger: logger)
        case .unnamed:
            return try await query(StatementStyle.unnamedQuery(statement), logger: logger).map { try statement.decodeRow($0) }
        }
    }
}
