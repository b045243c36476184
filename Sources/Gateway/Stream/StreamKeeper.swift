import Logging
import PostgresNIO
import ServiceLifecycle
import Shared

/// Keeps the tokens of this gateway's open streams from idle expiry — one statement per second for
/// all of them, writing each token at most every min(30 s, its room's idle TTL / 4), as a poll
/// would — sends their keep-alives (``LiveLine/wakeQuiet()``), and ends every stream when the gateway
/// shuts down, so their clients reconnect to another.
struct StreamKeeper: Service {
    let line: LiveLine
    let client: PostgresClient
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                line.wakeQuiet()
                let tokens = line.listeningTokens
                guard !tokens.isEmpty, !Task.isCancelled else { continue }
                do {
                    // By primary key: `(status || '')` cannot match the waiting tokens' index, which the
                    // planner, its statistics behind a crowd that just arrived, took for one row and
                    // scanned whole for every touch (40 ms a second at 10,000 waiting).
                    try await client.run("""
                        UPDATE queue_tokens q SET last_seen_at = now()
                        FROM rooms_in_force r
                        WHERE q.id = ANY (\(tokens)) AND (q.status || '') = 'waiting' AND r.id = q.room_id
                          AND q.last_seen_at < now() - make_interval(secs => LEAST(30, r.idle_ttl_seconds / 4))
                        """, logger: logger)
                } catch {
                    logger.warning("could not keep the listening tokens seen", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
        }
        line.closeAll()
    }
}
