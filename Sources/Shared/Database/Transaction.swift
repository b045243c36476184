import Logging
import NIOCore
import PostgresNIO

extension PostgresClient {
    /// Runs `body` inside BEGIN … COMMIT on a pooled connection; rolls back when it throws.
    ///
    /// Unlike PostgresNIO's own `withTransaction`, this never waits on a dead connection: when the
    /// server dropped the session mid-transaction (terminated backend, restart), the ROLLBACK is
    /// skipped — the server already rolled back — and a ROLLBACK that does not answer within
    /// `rollbackTimeout` closes the connection, so the pool replaces it. The body's error is rethrown.
    public func inTransaction<Result: Sendable>(
        logger: Logger,
        rollbackTimeout: Duration = .seconds(5),
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            let result: Result
            do {
                result = try await body(connection)
            } catch {
                await connection.rollbackOrClose(within: rollbackTimeout, logger: logger)
                throw error
            }
            do {
                try await connection.query("COMMIT", logger: logger)
            } catch {
                await connection.rollbackOrClose(within: rollbackTimeout, logger: logger)
                throw error
            }
            return result
        }
    }
}

extension PostgresConnection {
    /// Rolls the open transaction back, or closes the connection when that cannot be done promptly.
    func rollbackOrClose(within limit: Duration, logger: Logger) async {
        guard !isClosed else { return }
        do {
            try await closing(after: limit) { try await self.run("ROLLBACK", logger: logger) }
        } catch {
            logger.warning("rollback failed; closing the connection", metadata: ["error": "\(String(reflecting: error))"])
            try? await close()
        }
    }

    /// Runs `body`; past `limit`, closes this connection — which fails whatever waits on it — and
    /// throws ``DeadlineExceeded`` at once, leaving `body` behind (cancelled) if it still runs: a
    /// PostgresNIO (1.33) query on a session the server dropped can ignore both cancellation and the
    /// close, and a caller that waited for it — an admission leader, a listener — would wait forever.
    /// Before the limit, it waits for `body` as a child task would, passing on a cancellation.
    public func closing<T: Sendable>(after limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withAbandonableDeadline(limit, onCancel: .passesOn, atDeadline: { [self] in _ = self.close() as EventLoopFuture<Void> }, body)
    }
}

extension PostgresConnection {
    /// Runs a statement to completion, reading and dropping any rows, so its errors surface here.
    public func run(_ query: PostgresQuery, logger: Logger) async throws {
        for try await _ in try await self.query(query, logger: logger) {}
    }
}

extension PostgresClient {
    /// Runs `body` — one write whose result a client is told — inside BEGIN … COMMIT, and returns
    /// only once the COMMIT succeeded.
    ///
    /// A statement outside BEGIN commits when the server handles the Sync after it, but PostgresNIO
    /// ends the row stream at CommandComplete, before that: a commit that fails, or a server that
    /// goes away in between (a restart), goes unseen, and the caller would report rows that were
    /// never committed — a chaos run's PostgreSQL restart gave two clients a `202` for job ids that
    /// never existed. An explicit COMMIT is answered only after the commit, so its success is the
    /// confirmation. Two more round trips, for writes whose result a client is told.
    public func committed<Result: Sendable>(
        logger: Logger, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await inTransaction(logger: logger, body)
    }

    /// The one row of a CALL of a procedure that COMMITs inside (the enqueues; the token
    /// issue). PostgreSQL sends that row only after the commit, so having it is the
    /// confirmation: one round trip where ``committed(logger:_:)`` takes three.
    public func callCommitting<Statement: PostgresPreparedStatement>(
        _ statement: Statement, logger: Logger
    ) async throws -> Statement.Row where Statement.Row: Sendable {
        var answer: Statement.Row?
        for try await row in try await executeStatement(statement, logger: logger) { answer = row }
        guard let answer else { throw ProcedureAnsweredNothing(statement: Statement.sql) }
        return answer
    }

    /// Runs a statement to completion on a pooled connection, reading and dropping any rows.
    public func run(_ query: PostgresQuery, logger: Logger) async throws {
        for try await _ in try await self.query(query, logger: logger) {}
    }
}

/// A CALL that should answer one row answered none; nothing it did may be reported.
public struct ProcedureAnsweredNothing: Error {
    public let statement: String
}
