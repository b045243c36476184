import Foundation
import Logging
import HummingbirdTesting
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import Gateway

@Suite("Waiting room over HTTP")
struct WaitingRoomTests {
    @Test("a new token waits in line; asking again returns it with its place; polling shows it become active")
    func journey() async throws {
        try await TestGateway.run(["ADMIT_PER_SECOND": "5", "QUEUE_TICK": "0.2"], admission: true) { api, _ in
            let first = try await api.newUser("ada")
            let second = try await api.newUser("bob")
            let issued = try await api.token(first.key)
            #expect(issued.status == 201)
            #expect(issued["status"] as? String == "waiting" || issued["status"] as? String == "active")
            let token = try #require(issued["token"] as? String)
            #expect(token.count >= 22)  // 128 bits, base64url
            let again = try await api.token(first.key)
            #expect(again.status == 200)
            #expect(again["token"] as? String == token)
            let other = try await api.token(second.key)
            #expect(other["token"] as? String != token)
            let active = try await eventually(timeout: .seconds(5)) {
                let poll = try await api.call(.get, "/v1/queue/tokens/current", key: first.key, token: token)
                return poll["status"] as? String == "active"
            }
            #expect(active)
            let poll = try await api.call(.get, "/v1/queue/tokens/current", key: first.key, token: token)
            #expect(poll.status == 200)
            #expect(poll["position"] as? Int == 0)
            #expect(poll["etaSeconds"] as? Int == 0)
            #expect(poll["activatedAt"] as? String != nil)
            #expect(poll["expiresAt"] as? String != nil)
            #expect(poll.headers[.retryAfter] == nil)
        }
    }

    @Test("a token whose commit fails is never handed out: 503, no token row; the next request gets one")
    func tokenIssueWaitsForItsCommit() async throws {
        try await TestGateway.run([:]) { api, db in
            let user = try await api.newUser("ada")
            let other = try await api.newUser("bob")
            // A check that runs at commit, after the insert has returned its rows: the window in
            // which a server restart also loses a write the client was told of.
            try await db.query("""
                CREATE FUNCTION refuse_token_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.user_id = \(unescaped: String(user.id)) THEN RAISE EXCEPTION 'refused at commit'; END IF;
                    RETURN NULL;
                END $$
                """)
            try await db.query("""
                CREATE CONSTRAINT TRIGGER refuse_token_at_commit AFTER INSERT ON queue_tokens DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW EXECUTE FUNCTION refuse_token_at_commit()
                """)
            let refused = try await api.token(user.key)
            #expect(refused.status == 503)
            #expect(refused["token"] == nil)
            #expect(try await db.scalar("SELECT count(*) FROM queue_tokens WHERE user_id = \(user.id)", as: Int64.self) == 0)
            let issued = try await api.token(other.key)
            #expect(issued.status == 201)
            #expect(issued["token"] as? String != nil)
            #expect(try await db.scalar("SELECT count(*) FROM queue_tokens WHERE user_id = \(other.id)", as: Int64.self) == 1)
        }
    }

    @Test("waiting: position, eta, Retry-After within [1, idle TTL / 4], null activatedAt/expiresAt")
    func waitingShape() async throws {
        try await TestGateway.run(["WAITING_IDLE_TTL": "120"]) { api, db in
            // No admission running, and the room's rate is 2/s: positions and etas are exact.
            try await db.query("UPDATE rooms SET admit_per_second = 2, idle_ttl_seconds = 120 WHERE id = 1")
            var keys: [String] = []
            for n in 0..<5 { keys.append(try await api.newUser("fan\(n)").key) }
            var tokens: [String] = []
            for key in keys { tokens.append(try #require(try await api.token(key)["token"] as? String)) }
            for (index, key) in keys.enumerated() {
                let poll = try await api.call(.get, "/v1/queue/tokens/current", key: key, token: tokens[index])
                #expect(poll["status"] as? String == "waiting")
                #expect(poll["position"] as? Int == index + 1)
                #expect(poll["etaSeconds"] as? Int == Int((Double(index + 1) / 2).rounded(.up)))
                #expect(poll.json.keys.contains("activatedAt"))
                #expect(poll["activatedAt"] is NSNull)
                #expect(poll["expiresAt"] is NSNull)
                let retryAfter = try #require(poll.headers[.retryAfter].flatMap { Int($0) })
                #expect(retryAfter >= 1 && retryAfter <= 30)
            }
        }
    }

    @Test("50 concurrent token requests by one user: one token, one 201")
    func oneTokenPerUser() async throws {
        try await TestGateway.run { api, db in
            let user = try await api.newUser()
            let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for _ in 0..<50 { group.addTask { try await api.token(user.key) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.filter { $0.status == 201 }.count == 1)
            #expect(replies.filter { $0.status == 200 }.count == 49)
            #expect(Set(replies.compactMap { $0["token"] as? String }).count == 1)
            #expect(try await db.scalar("SELECT count(*) FROM queue_tokens", as: Int64.self) == 1)
        }
    }

    @Test("100 users and 5 unknown keys asking at once (batched): 100 tokens in 100 distinct places, 5 × 401")
    func manyUsersAtOnce() async throws {
        try await TestGateway.run { api, db in
            var keys: [String] = []
            for n in 0..<100 { keys.append(try await api.newUser("fan\(n)").key) }
            let all = keys + (0..<5).map { "no-such-key-\($0)" }
            let replies = try await withThrowingTaskGroup(of: (String, Reply).self) { group in
                for key in all { group.addTask { (key, try await api.token(key)) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.filter { $0.0.hasPrefix("no-such-key") }.allSatisfy { $0.1.status == 401 })
            let issued = replies.filter { !$0.0.hasPrefix("no-such-key") }.map(\.1)
            #expect(issued.allSatisfy { $0.status == 201 })
            #expect(Set(issued.compactMap { $0["token"] as? String }).count == 100)
            #expect(try await db.scalar("SELECT count(DISTINCT place) FROM queue_tokens WHERE status = 'waiting'", as: Int64.self) == 100)
            // Each token is its user's: polling with the key that took it shows it waiting.
            for (key, reply) in replies where reply.status == 201 {
                let token = try #require(reply["token"] as? String)
                #expect(try await api.call(.get, "/v1/queue/tokens/current", key: key, token: token).status == 200)
            }
        }
    }

    @Test("an active token past ACTIVE_TTL polls as expired; asking again starts a new place at the back")
    func activeTTL() async throws {
        try await TestGateway.run(["ADMIT_PER_SECOND": "100", "QUEUE_TICK": "0.1", "ACTIVE_TTL": "0.6"], admission: true) { api, db in
            let user = try await api.newUser()
            let token = try #require(try await api.token(user.key)["token"] as? String)
            // Admitted (the active window is short: check the row, not a poll that may land after it).
            #expect(try await eventually {
                try await db.scalar("SELECT activated_at IS NOT NULL FROM queue_tokens WHERE user_id = \(user.id)", as: Bool.self) == true
            })
            #expect(try await eventually {
                try await api.call(.get, "/v1/queue/tokens/current", key: user.key, token: token)["status"] as? String == "expired"
            })
            #expect(try await eventually {
                try await db.scalar("SELECT count(*) FROM queue_tokens WHERE status = 'expired'", as: Int64.self) == 1
            })
            let fresh = try await api.token(user.key)
            #expect(fresh.status == 201)
            #expect(fresh["token"] as? String != token)
        }
    }

    @Test("a waiting token not polled within WAITING_IDLE_TTL expires; one that is polled keeps its place")
    func idleTTL() async throws {
        try await TestGateway.run(["ADMIT_PER_SECOND": "0.001", "QUEUE_TICK": "0.1", "WAITING_IDLE_TTL": "4"], admission: true) { api, db in
            let polled = try await api.newUser("polled")
            let silent = try await api.newUser("silent")
            let polledToken = try #require(try await api.token(polled.key)["token"] as? String)
            let silentToken = try #require(try await api.token(silent.key)["token"] as? String)
            let until = ContinuousClock.now + .seconds(6)
            while ContinuousClock.now < until {
                let poll = try await api.call(.get, "/v1/queue/tokens/current", key: polled.key, token: polledToken)
                #expect(poll["status"] as? String == "waiting")
                try await Task.sleep(for: .milliseconds(250))
            }
            let silentPoll = try await api.call(.get, "/v1/queue/tokens/current", key: silent.key, token: silentToken)
            #expect(silentPoll.status == 200)
            #expect(silentPoll["status"] as? String == "expired")
            #expect(try await db.scalar("SELECT status FROM queue_tokens WHERE user_id = \(silent.id)", as: String.self) == "expired")
            #expect(try await db.scalar("SELECT status FROM queue_tokens WHERE user_id = \(polled.id)", as: String.self) == "waiting")
        }
    }

    @Test("a poll is one indexed lookup: the same database work with 1,000 and 100,000 waiting tokens, and with 1 and 1,001 rooms")
    func pollCostIndependentOfLength() async throws {
        try await TestGateway.run { api, db in
            let user = try await api.newUser()
            let token = try #require(try await api.token(user.key)["token"] as? String)
            let hash = Secrets.sha256(token).map { String(format: "%02x", $0) }.joined()
            func buffersTouched() async throws -> (buffers: Int, seqScan: Bool) {
                // The gateway's own lookup statement, as prepared, with a generic plan.
                let lines = try await db.withConnection { connection in
                    var lines: [String] = []
                    let logger = Logger(label: "test.poll-cost")
                    try await connection.query("SET plan_cache_mode = force_generic_plan", logger: logger)
                    try await connection.query(
                        "PREPARE lookup(bytea[]) AS \(unescaped: TokenStore.Statements.ByHashes.sql)", logger: logger)
                    let rows = try await connection.query("""
                        EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) EXECUTE lookup(ARRAY['\\x\(unescaped: hash)'::bytea])
                        """, logger: logger)
                    for try await line in rows.decode(String.self) { lines.append(line) }
                    try await connection.query("DEALLOCATE lookup", logger: logger)
                    try await connection.query("RESET plan_cache_mode", logger: logger)
                    return lines
                }
                // The top node's line counts the buffers of the whole plan.
                let top = lines.first { $0.contains("Buffers: shared") } ?? ""
                let counts = top.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
                return (counts.reduce(0, +), lines.contains { $0.contains("Seq Scan on queue_tokens") })
            }
            func fill(to count: Int) async throws {
                try await db.query("""
                    INSERT INTO users (name, api_key_hash)
                    SELECT 'filler', sha256(('filler' || n)::bytea) FROM generate_series((SELECT count(*) FROM users) + 1, \(count)) n
                    """)
                try await db.query("""
                    INSERT INTO queue_tokens (user_id, token_hash, salt, place)
                    SELECT u.id, sha256(('t' || u.id)::bytea), '\\x00000000000000000000000000000000'::bytea, u.id
                    FROM users u WHERE u.name = 'filler' AND NOT EXISTS (SELECT 1 FROM queue_tokens q WHERE q.user_id = u.id)
                    """)
                try await db.query("ANALYZE queue_tokens")
            }
            try await fill(to: 1_000)
            let small = try await buffersTouched()
            try await fill(to: 100_000)
            let large = try await buffersTouched()
            #expect(!small.seqScan && !large.seqScan)
            #expect(small.buffers > 0)
            #expect(large.buffers <= small.buffers + 2, "buffers: \(small.buffers) with 1,000 vs \(large.buffers) with 100,000")
            // Nor with the number of rooms: the token's room is one probe (a view with anything
            // volatile in it was once evaluated for every room on every poll).
            try await db.query("INSERT INTO rooms (name, state, opened_at) SELECT 'r' || n, 'open', now() FROM generate_series(1, 1000) n")
            try await db.query("ANALYZE rooms")
            let manyRooms = try await buffersTouched()
            // (The rooms' index gains a level or two: a few buffers, not one per room.)
            #expect(manyRooms.buffers <= small.buffers + 5, "buffers: \(small.buffers) with one room vs \(manyRooms.buffers) with 1,001")
            let poll = try await api.call(.get, "/v1/queue/tokens/current", key: user.key, token: token)
            #expect(poll["position"] as? Int == 1)
        }
    }
}
