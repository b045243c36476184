import Logging
import PostgresNIO
import Shared

/// The gateway's access to Postgres: every call has a deadline, and a database that is down or
/// too slow becomes `503 unavailable` for the client instead of a hang (PostgresNIO waits forever
/// for a connection while the server is down).
struct GatewayDatabase: Sendable {
    let client: PostgresClient
    var replicas: Replicas? = nil
    let deadline: Duration
    let logger: Logger

    /// How long a read waits on a replica before it is asked of the primary instead (a replica just
    /// killed: its pool would wait for a connection until the request's deadline).
    static let replicaPatience: Duration = .seconds(1)

    /// Runs `body` — a read that tolerates a replica's bounded staleness — on a fresh replica when
    /// there is one, else on the primary, within the request deadline. A replica that fails or does
    /// not answer within ``replicaPatience`` is distrusted and the primary answers; so does the
    /// primary when `confirmOnPrimary` says the replica's answer may only be its lag (a row just
    /// written, not there yet: `nil`).
    func read<T: Sendable>(confirmOnPrimary: @escaping @Sendable (T) -> Bool = { _ in false },
                           _ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        guard let replicas, let replica = replicas.pick() else { return try await run(body) }
        return try await answering {
            try await withDeadline(deadline) {
                do {
                    // Abandoned, not awaited, past its patience: PostgresNIO can leave a query waiting
                    // forever on a session the server terminated (``withAbandonableDeadline``).
                    let answer = try await withAbandonableDeadline(Self.replicaPatience) { try await body(replica) }
                    if !confirmOnPrimary(answer) { return answer }
                } catch let problem as Problem {
                    throw problem
                } catch {
                    replicas.distrust(replica)
                    logger.notice("replica read failed; reading from the primary", metadata: ["error": "\(String(reflecting: error))"])
                }
                return try await body(client)
            }
        }
    }

    /// Whether a replica is fresh enough to read from now (the reads that would only repeat on the
    /// primary what a miss there asks again skip the replica path without one).
    var hasFreshReplica: Bool { replicas?.hasFresh ?? false }

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
