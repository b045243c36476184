import Logging
import PostgresNIO
import Shared

/// The gateway's access to Postgres: every call has a deadline, and a database that is down or
/// too slow becomes `503 unavailable` for the client instead of a hang (PostgresNIO waits forever
/// for a connection while the server is down).
struct GatewayDatabase: Sendable {
    let client: PostgresClient
    let deadline: Duration
    let logger: Logger

    /// Runs `body` against the pool within the request deadline.
    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try await answering { try await withDeadline(deadline) { try await body(client) } }
    }

    /// Runs `body`, which keeps the request deadline it is given itself: a ``Batcher`` submit, which
    /// bounds its batches instead of each request (``withDeadline`` costs a task and a timer per
    /// call: about a quarter of a token poll's CPU in the gateway, 2026-12-02).
    func batched<T: Sendable>(_ body: (_ deadline: Duration) async throws -> T) async throws -> T {
        try await answering { try await body(deadline) }
    }

    /// `body`'s result; its failures other than a ``Problem`` logged and answered `503 unavailable`.
    private func answering<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let problem as Problem {
            throw problem
        } catch {
            logger.warning("database call failed", metadata: ["error": "\(String(reflecting: error))"])
            throw Problem.unavailable()
        }
    }
}
