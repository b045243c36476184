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
        do {
            return try await withDeadline(deadline) { try await body(client) }
        } catch let problem as Problem {
            throw problem
        } catch {
            logger.warning("database call failed", metadata: ["error": "\(String(reflecting: error))"])
            throw Problem.unavailable()
        }
    }
}
