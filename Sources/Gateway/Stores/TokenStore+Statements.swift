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

        /// What `IssueForKey` did.
        enum IssueOutcome {
            case inserted(TokenRow)
            /// The key's user already has a live token (or lost the race to insert one).
            case hasLiveToken(userID: Int64)
        }

        /// Finds the user by API-key digest and inserts a token unless they have a live one, in one
        /// prepared statement. No row: no such user.
        struct IssueForKey: PostgresPreparedStatement {
            static let sql = """
                WITH u AS (SELECT id FROM users WHERE api_key_hash = $1),
                t AS (
                    INSERT INTO queue_tokens (user_id, token_hash, salt)
                    SELECT u.id, $2, $3 FROM u
                    WHERE NOT EXISTS (SELECT 1 FROM queue_tokens q WHERE q.user_id = u.id AND q.status IN ('waiting', 'active'))
                    ON CONFLICT (user_id) WHERE status IN ('waiting', 'active') DO NOTHING
                    RETURNING *
                )
                SELECT u.id, t.id IS NOT NULL,
                       t.id, t.user_id, t.seq, t.status, t.activated_at, t.expires_at, t.last_seen_at, t.salt,
                       now(), w.admitted_through, w.admit_per_second, w.idle_ttl_seconds
                FROM u CROSS JOIN waiting_room w LEFT JOIN t ON true
                WHERE w.id = 1
                """
            typealias Row = IssueOutcome

            let keyHash: [UInt8]
            let tokenHash: [UInt8]
            let salt: [UInt8]

            func makeBindings() throws -> PostgresBindings {
                var bindings = PostgresBindings()
                bindings.append(ByteBuffer(bytes: keyHash))
                bindings.append(ByteBuffer(bytes: tokenHash))
                bindings.append(ByteBuffer(bytes: salt))
                return bindings
            }

            func decodeRow(_ row: PostgresRow) throws -> IssueOutcome {
                let columns = row.makeRandomAccess()
                let userID = try columns[0].decode(Int64.self)
                guard try columns[1].decode(Bool.self) else { return .hasLiveToken(userID: userID) }
                return .inserted(try Statements.decode(columns, from: 2))
            }
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
            try decode(row.makeRandomAccess(), from: 0)
        }

        /// A token row from `columns` (in the order of `columns` above) starting at index `first`.
        static func decode(_ columns: PostgresRandomAccessRow, from first: Int) throws -> TokenRow {
            func column<T: PostgresDecodable>(_ offset: Int, _: T.Type = T.self) throws -> T {
                try columns[first + offset].decode(T.self)
            }
            return TokenRow(
                id: try column(0), userID: try column(1), seq: try column(2), status: try column(3),
                activatedAt: try column(4), expiresAt: try column(5), lastSeenAt: try column(6),
                salt: Array(try column(7, ByteBuffer.self).readableBytesView), now: try column(8),
                admittedThrough: try column(9), admitPerSecond: try column(10), idleTTL: try column(11))
        }
    }
}
