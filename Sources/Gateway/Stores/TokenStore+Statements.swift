import Foundation
import NIOCore
import PostgresNIO

extension TokenStore {
    /// The gateway's statements over `queue_tokens`. Each read joins the token's room (its settings
    /// in force, `rooms_in_force`), so a poll is two indexed lookups whatever the length of the line.
    enum Statements {
        static let columns = """
            t.id, t.user_id, t.room_id, t.place, t.status, t.activated_at, t.expires_at, t.last_seen_at, t.salt,
            now(), r.state, r.opens_at, r.admitted_through, r.admit_per_second, r.idle_ttl_seconds,
            stagedoor_token_status(t.status, t.expires_at, t.last_seen_at, r.idle_ttl_seconds, r.state)
            """


        /// What `IssueForKeys` did for one request.
        enum IssueOutcome: Sendable {
            case inserted(TokenRow)
            /// The key's user already has a live token (or another request in the batch took one).
            case hasLiveToken(userID: Int64)
            /// No user has this key.
            case unknownKey
            /// The room does not exist.
            case unknownRoom
        }

        /// One token request of a batch: the API key's digest, the room, and the new token's hash and salt.
        struct IssueRequest: Sendable {
            let keyHash: [UInt8]
            let roomID: Int64
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
                CALL stagedoor_issue_tokens($1::bytea[], $2::bytea[], $3::bytea[], $4::bigint[],
                                            NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
                """
            typealias Row = [IssueOutcome]

            let requests: [IssueRequest]

            func makeBindings() throws -> PostgresBindings {
                var bindings = PostgresBindings()
                bindings.append(requests.map { ByteBuffer(bytes: $0.keyHash) })
                bindings.append(requests.map { ByteBuffer(bytes: $0.tokenHash) })
                bindings.append(requests.map { ByteBuffer(bytes: $0.salt) })
                bindings.append(requests.map(\.roomID))
                return bindings
            }

            func decodeRow(_ row: PostgresRow) throws -> [IssueOutcome] {
                let columns = row.makeRandomAccess()
                let userIDs = try columns[0].decode([Int64].self), ids = try columns[1].decode([Int64].self)
                let places = try columns[2].decode([Int64].self), lastSeen = try columns[3].decode([Date].self)
                let statuses = try columns[4].decode([String].self), states = try columns[5].decode([String].self)
                let opensAt = try columns[6].decode([Date].self), marks = try columns[7].decode([Int64].self)
                let rates = try columns[8].decode([Double].self), idleTTLs = try columns[9].decode([Double].self)
                let now = try columns[10].decode(Date.self)
                let counts = [userIDs.count, ids.count, places.count, lastSeen.count, statuses.count, states.count, opensAt.count,
                              marks.count, rates.count, idleTTLs.count]
                guard counts.allSatisfy({ $0 == requests.count }) else {
                    throw IssueAnswerMismatch(requests: requests.count, answers: userIDs.count)
                }
                return requests.indices.map { n in
                    guard userIDs[n] != 0 else { return .unknownKey }
                    guard statuses[n] != "no_room" else { return .unknownRoom }
                    guard ids[n] != 0 else { return .hasLiveToken(userID: userIDs[n]) }
                    // A token inserted just now is waiting: never activated, no expiry yet.
                    return .inserted(TokenRow(
                        id: ids[n], userID: userIDs[n], roomID: requests[n].roomID, place: places[n] == 0 ? nil : places[n],
                        status: "waiting", activatedAt: nil, expiresAt: nil, lastSeenAt: lastSeen[n], salt: requests[n].salt,
                        now: now, roomState: states[n], opensAt: opensAt[n].timeIntervalSince1970 == 0 ? nil : opensAt[n],
                        admittedThrough: marks[n], admitPerSecond: rates[n], idleTTL: idleTTLs[n], effectiveStatus: statuses[n]))
                }
            }
        }

        /// The token issue's answer did not have one entry per request; nothing is handed out.
        struct IssueAnswerMismatch: Error {
            let requests: Int
            let answers: Int
        }

        static func live(userID: Int64, roomID: Int64) -> PostgresQuery {
            """
            SELECT \(unescaped: columns) FROM queue_tokens t JOIN rooms_in_force r ON r.id = t.room_id
            WHERE t.user_id = \(userID) AND t.room_id = \(roomID) AND t.status IN ('waiting', 'active')
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
                JOIN rooms_in_force r ON r.id = t.room_id
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

        /// Ends the user's live token in the room if it outlived its TTL before the queue worker got to it.
        static func expireStale(userID: Int64, roomID: Int64) -> PostgresQuery {
            """
            UPDATE queue_tokens t SET status = 'expired', ended_at = now()
            FROM rooms_in_force r
            WHERE r.id = t.room_id AND t.user_id = \(userID) AND t.room_id = \(roomID) AND t.status IN ('waiting', 'active')
              AND stagedoor_token_status(t.status, t.expires_at, t.last_seen_at, r.idle_ttl_seconds, r.state) = 'expired'
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
                id: try column(0), userID: try column(1), roomID: try column(2), place: try column(3), status: try column(4),
                activatedAt: try column(5), expiresAt: try column(6), lastSeenAt: try column(7),
                salt: Array(try column(8, ByteBuffer.self).readableBytesView), now: try column(9),
                roomState: try column(10), opensAt: try column(11), admittedThrough: try column(12),
                admitPerSecond: try column(13), idleTTL: try column(14), effectiveStatus: try column(15))
        }
    }
}
