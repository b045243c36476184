import Foundation
import HTTPTypes
import PostgresNIO
import Shared
import Testing
import TestSupport

/// `GET /v1/queue/tokens/current/events` (docs/api.md, *Live updates*).
@Suite("Live updates over server-sent events")
struct TokenEventsTests {
    @Test("thirty streams in a paused room: each starts at once, its position never rises, and it ends at active when the room opens")
    func streamsFollowTheLine() async throws {
        try await TestGateway.run(["ADMIT_PER_SECOND": "20", "QUEUE_TICK": "0.2"], admission: true) { api, db in
            try await db.query("UPDATE rooms SET state = 'paused' WHERE id = 1")
            var fans: [(key: String, token: String)] = []
            for n in 0..<30 {
                let fan = try await api.newUser("s\(n)")
                fans.append((fan.key, try #require(try await api.token(fan.key)["token"] as? String)))
            }
            let opener = Task {
                try await Task.sleep(for: .seconds(1.5))
                try await db.query("UPDATE rooms SET state = 'open' WHERE id = 1")
            }
            let bodies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for fan in fans {
                    group.addTask { try await api.call(.get, "/v1/queue/tokens/current/events", key: fan.key, token: fan.token) }
                }
                var all: [Reply] = []
                for try await reply in group { all.append(reply) }
                return all
            }
            try await opener.value
            for reply in bodies {
                #expect(reply.status == 200 && reply.headers[.contentType] == "text/event-stream")
                // Its connection closes when it ends: no client may send another request on it.
                #expect(reply.headers[.connection] == "close")
                let events = tokenEvents(in: reply.text)
                #expect(events.count >= 2, "\(reply.text)")
                #expect(events.map(\.id) == Array(1...events.count))
                #expect(events.first?.json["status"] as? String == "waiting")
                #expect(events.last?.json["status"] as? String == "active")
                let positions = events.compactMap { $0.json["position"] as? Int }
                #expect(zip(positions, positions.dropFirst()).allSatisfy { $0 >= $1 }, "positions rose: \(positions)")
                #expect(events.contains { $0.json["roomState"] as? String == "paused" && $0.json["etaSeconds"] is NSNull })
            }
        }
    }

    @Test("a listening token is kept from idle expiry; a silent one in the same room expires")
    func listeningKeepsTokenSeen() async throws {
        try await TestGateway.run(["QUEUE_TICK": "0.2"], admission: true) { api, db in
            try await db.query("UPDATE rooms SET state = 'paused', idle_ttl_seconds = 4 WHERE id = 1")
            let silent = try await api.newUser("silent")
            _ = try await api.token(silent.key)
            let listener = try await api.newUser("listener")
            let token = try #require(try await api.token(listener.key)["token"] as? String)
            let opener = Task {
                try await Task.sleep(for: .seconds(8))
                try await db.query("UPDATE rooms SET state = 'open' WHERE id = 1")
            }
            let reply = try await api.call(.get, "/v1/queue/tokens/current/events", key: listener.key, token: token)
            try await opener.value
            #expect(tokenEvents(in: reply.text).last?.json["status"] as? String == "active", "\(reply.text)")
            #expect(try await db.scalar("SELECT status FROM queue_tokens WHERE user_id = \(silent.id)", as: String.self) == "expired")
        }
    }

    @Test("an active token's stream is one event; errors before the stream are problem JSON; past MAX_STREAMS 503 with Retry-After")
    func limitsAndErrors() async throws {
        try await TestGateway.run(["MAX_STREAMS": "0"]) { api, db in
            let fan = try await api.newUser()
            let token = try #require(try await api.token(fan.key)["token"] as? String)
            ErrorPathTests.expectProblem(try await api.call(.get, "/v1/queue/tokens/current/events", key: fan.key), 401, "queue_token_invalid")
            ErrorPathTests.expectProblem(try await api.call(.get, "/v1/queue/tokens/current/events", token: token), 401, "unauthorized")
            let full = try await api.call(.get, "/v1/queue/tokens/current/events", key: fan.key, token: token)
            ErrorPathTests.expectProblem(full, 503, "unavailable")
            #expect(full.headers[.retryAfter] != nil)
            // Admitted as the leader would (the mark passes it), once the gateway's reading of the line is stale.
            try await db.query("UPDATE queue_tokens SET status = 'active', activated_at = now(), expires_at = now() + interval '10 minutes'")
            try await db.query("UPDATE rooms SET admitted_through = (SELECT max(place) FROM queue_tokens) WHERE id = 1")
            try await Task.sleep(for: .milliseconds(300))
            let active = try await api.call(.get, "/v1/queue/tokens/current/events", key: fan.key, token: token)
            let events = tokenEvents(in: active.text)
            #expect(active.status == 200 && events.count == 1 && events.first?.json["status"] as? String == "active")
        }
    }
}
