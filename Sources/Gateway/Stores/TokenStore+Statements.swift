import Foundation
import NIOCore
import PostgresNIO

extension TokenStore {
    /// The gateway's statements over `queue_tokens`. Each read joins the one-row `waiting_room`,
    /// so a poll is one indexed lookup whatever the length of the line.
    enum Statements {
        static let columns = """
            t.id, t.user_id, t.seq, t.status, t.activated_at, t.expires_at, t.last_seen_at, t.salt,
            now(), w.admitted_through, w.admit_per_second, w.idle_ttl_seconds
            """

        /// Inserts a token unless the user has a live one. Nothing is inserted — and no place in
        /// line is used up — when one exists; a concurrent insert loses on the partial unique index.
        static func insertIfNone(userID: Int64, hash: [UInt8], salt: [UInt8]) -> PostgresQuery {
            """
            WITH t AS (
                INSERT INTO queue_tokens (user_id, token_hash, salt)
                SELECT \(userID), \(ByteBuffer(bytes: hash)), \(ByteBuffer(bytes: salt))
                WHERE NOT EXISTS (SELECT 1 FROM queue_tokens WHERE user_id = \(userID) AND status IN ('waiting', 'active'))
                ON CONFLICT (user_id) WHERE status IN ('waiting', 'active') DO NOTHING
                RETURNING *
            )
            SELECT \(unescaped: columns) FROM t CROSS JOIN waiting_room w WHERE w.id = 1
            """
        }

        static func live(userID: Int64) -> PostgresQuery {
            """
            SELECT \(unescaped: columns) FROM queue_tokens t CROSS JOIN waiting_room w
            WHERE t.user_id = \(userID) AND t.status IN ('waiting', 'active') AND w.id = 1
            """
        }

        /// The poll's lookup, prepared once per connection: polls are the hottest path.
        struct ByHash: PostgresPreparedStatement {
            static let sql = """
                SELECT t.id, t.user_id, t.seq, t.status, t.activated_at, t.expires_at, t.last_seen_at, t.salt,
                       now(), w.admitted_through, w.admit_per_second, w.idle_ttl_seconds
                FROM queue_tokens t CROSS JOIN waiting_room w
                WHERE t.token_hash = $1 AND w.id = 1
                """
            typealias Row = TokenRow

            let hash: [UInt8]

            func makeBindings() throws -> PostgresBindings {
                var bindings = PostgresBindings()
                bindings.append(ByteBuffer(bytes: hash))
                return bindings
            }

            func decodeRow(_ row: PostgresRow) throws -> TokenRow { try Statements.decode(row) }
        }

        /// Ends the user's live token if it outlived its TTL before the queue worker got to it.
        static func expireStale(userID: Int64) -> PostgresQuery {
            """
            UPDATE queue_tokens t SET status = 'expired', ended_at = now()
            FROM waiting_room w
            WHERE w.id = 1 AND t.user_id = \(userID)
              AND ((t.status = 'active' AND t.expires_at <= now())
                OR (t.status = 'waiting' AND t.last_seen_at < now() - make_interval(secs => w.idle_ttl_seconds)))
            """
        }

        static func touch(id: Int64) -> PostgresQuery {
            "UPDATE queue_tokens SET last_seen_at = now() WHERE id = \(id) AND status = 'waiting'"
        }

        static func decode(_ row: PostgresRow) throws -> TokenRow {
            let (id, userID, seq, status, activatedAt, expiresAt, lastSeenAt, salt, now, admitted, rate, idle) = try row.decode(
                (Int64, Int64, Int64, String, Date?, Date?, Date, ByteBuffer, Date, Int64, Double, Double).self)
            return TokenRow(
                id: id, userID: userID, seq: seq, status: status, activatedAt: activatedAt, expiresAt: expiresAt,
                lastSeenAt: lastSeenAt, salt: Array(salt.readableBytesView), now: now, admittedThrough: admitted,
                admitPerSecond: rate, idleTTL: idle)
        }
    }
}
