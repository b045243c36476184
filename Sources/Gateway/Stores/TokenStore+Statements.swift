import Foundation
import NIOCore
import PostgresNIO

extension TokenStore {
    /// The gateway's statements over `queue_tokens`. Each read joins the one-row `waiting_room`,
    /// so a poll is one indexed lookup whatever the length of the line.
    enum Statements {
        static let columns = """
            t.id, t.user_id, t.seq, t.status, t.activated_at, t.expires_at, t.last_seen_at, t.salt,
            now(), w.admitted_through, w.admit_per_second, w.idle_ttl_seconds,
            stagedoor_token_status(t.status, t.expires_at, t.last_seen_at, w.idle_ttl_seconds)
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

        /// What `IssueForKeys` did for one request.
        enum IssueOutcome: Sendable {
            case inserted(TokenRow)
            /// The key's user already has a live token (or another request in the batch took one).
            case hasLiveToken(userID: Int64)
            /// No user has this key.
            case unknownKey
        }

        /// One token request of a batch: the API key's digest and the new token's hash and salt.
        struct IssueRequest: Sendable {
            let keyHash: [UInt8]
            let tokenHash: [UInt8]
            let salt: [UInt8]
        }

        /// Finds each request's user by API-key digest and inserts a token for those who have no live
        /// one, and commits, in one CALL for a batch of concurrent requests (`stagedoor_issue_tokens`,
        /// `stagedoor_issue_tokens`; see ``Batcher``): places in line follow the requests' order. Its one row is sent
        /// after the COMMIT inside the call, so a secret is handed out only for a committed token.
        /// One outcome per request, in order.
        struct IssueForKeys: PostgresPreparedStatement {
            static let sql = """
                CALL stagedoor_issue_tokens($1::bytea[], $2::bytea[], $3::bytea[], NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
                """
            typealias Row = [IssueOutcome]

            let requests: [IssueRequest]

            func makeBindings() throws -> PostgresBindings {
                var bindings = PostgresBindings()
                bindings.append(requests.map { ByteBuffer(bytes: $0.keyHash) })
                bindings.append(requests.map { ByteBuffer(bytes: $0.tokenHash) })
                bindings.append(requests.map { ByteBuffer(bytes: $0.salt) })
                return bindings
            }

            func decodeRow(_ row: PostgresRow) throws -> [IssueOutcome] {
                let (userIDs, ids, seqs, lastSeen, statuses, now, admittedThrough, admitPerSecond, idleTTL) = try row.decode(
                    ([Int64], [Int64], [Int64], [Date], [String], Date, Int64, Double, Double).self)
                guard [userIDs.count, ids.count, seqs.count, lastSeen.count, statuses.count].allSatisfy({ $0 == requests.count }) else {
                    throw IssueAnswerMismatch(requests: requests.count, answers: userIDs.count)
                }
                return requests.indices.map { n in
                    guard userIDs[n] != 0 else { return .unknownKey }
                    guard ids[n] != 0 else { return .hasLiveToken(userID: userIDs[n]) }
                    // A token inserted just now is waiting: never activated, no expiry yet.
                    return .inserted(TokenRow(
                        id: ids[n], userID: userIDs[n], seq: seqs[n], status: "waiting", activatedAt: nil, expiresAt: nil,
                        lastSeenAt: lastSeen[n], salt: requests[n].salt, now: now, admittedThrough: admittedThrough,
                        admitPerSecond: admitPerSecond, idleTTL: idleTTL, effectiveStatus: statuses[n]))
                }
            }
        }

        /// The token issue's answer did not have one entry per request; nothing is handed out.
        struct IssueAnswerMismatch: Error {
            let requests: Int
            let answers: Int
        }

        static func live(userID: Int64) -> PostgresQuery {
            """
            SELECT \(unescaped: columns) FROM queue_tokens t CROSS JOIN waiting_room w
            WHERE t.user_id = \(userID) AND t.status IN ('waiting', 'active') AND w.id = 1
            """
        }

        /// Tokens by the hashes of their secrets, for a batch of concurrent lookups (the queue gate
        /// of every booking request, and polls not answered from memory); prepared once per connection.
        /// One unique-index probe per hash, whatever the table's size: the LIMIT keeps the planner
        /// from turning the probes into a join (a generic plan made on a small table scanned it).
        struct ByHashes: PostgresPreparedStatement {
            static let sql = """
                SELECT t.token_hash, \(columns)
                FROM unnest($1::bytea[]) AS h(hash)
                CROSS JOIN LATERAL (SELECT * FROM queue_tokens q WHERE q.token_hash = h.hash LIMIT 1) t
                CROSS JOIN waiting_room w
                WHERE w.id = 1
                """
            typealias Row = ([UInt8], TokenRow)

            let hashes: [[UInt8]]

            func makeBindings() throws -> PostgresBindings {
                var bindings = PostgresBindings()
                bindings.append(hashes.map { ByteBuffer(bytes: $0) })
                return bindings
            }

            func decodeRow(_ row: PostgresRow) throws -> Row {
                let columns = row.makeRandomAccess()
                let hash = try columns[0].decode(ByteBuffer.self)
                return (Array(hash.readableBytesView), try Statements.decode(columns, from: 1))
            }
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
                admittedThrough: try column(9), admitPerSecond: try column(10), idleTTL: try column(11),
                effectiveStatus: try column(12))
        }
    }
}
