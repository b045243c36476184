import Foundation
import Hummingbird
import Logging
@testable import Gateway
import HummingbirdTesting
import PostgresNIO
import Shared
import Testing
import TestSupport

@Suite("Error paths of the users and waiting-room API")
struct ErrorPathTests {
    /// Checks the problem document's shape and code.
    static func expectProblem(_ reply: Reply, _ status: Int, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status == status, sourceLocation: sourceLocation)
        #expect(reply.code == code, "\(reply.json)", sourceLocation: sourceLocation)
        #expect(reply["type"] as? String == "urn:stagedoor:problem:\(code)", sourceLocation: sourceLocation)
        #expect(reply["status"] as? Int == status, sourceLocation: sourceLocation)
        #expect(reply["title"] is String && reply["detail"] is String, sourceLocation: sourceLocation)
        #expect(reply.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
    }

    @Test("bad user bodies are 400 or 413 and create nothing")
    func badUserBodies() async throws {
        try await TestGateway.run { api, db in
            let cases: [(String, Int, String)] = [
                (#"{"name": "#, 400, "invalid_request"),
                (#"{"name": 5}"#, 400, "invalid_request"),
                (#"{"name": null}"#, 400, "invalid_request"),
                (#"{}"#, 400, "invalid_request"),
                (#"[]"#, 400, "invalid_request"),
                (#"{"name": ""}"#, 400, "invalid_request"),
                ("{\"name\": \"\(String(repeating: "x", count: 101))\"}", 400, "invalid_request"),
                ("{\"name\": \"\(String(repeating: "x", count: 70_000))\"}", 413, "payload_too_large"),
            ]
            for (body, status, code) in cases {
                Self.expectProblem(try await api.call(.post, "/v1/users", body: body), status, code)
            }
            Self.expectProblem(try await api.call(.post, "/v1/users"), 400, "invalid_request")
            #expect(try await db.scalar("SELECT count(*) FROM users", as: Int64.self) == 0)
            let ok = try await api.call(.post, "/v1/users", body: "{\"name\": \"\(String(repeating: "é", count: 100))\"}")
            #expect(ok.status == 201)
        }
    }

    @Test("authentication and queue-token failures")
    func authFailures() async throws {
        try await TestGateway.run { api, _ in
            let ada = try await api.newUser("ada")
            let bob = try await api.newUser("bob")
            let adaToken = try #require(try await api.token(ada.key)["token"] as? String)
            let current = "/v1/queue/tokens/current"
            Self.expectProblem(try await api.call(.get, current, token: adaToken), 401, "unauthorized")
            Self.expectProblem(try await api.call(.get, current, key: "not-a-key", token: adaToken), 401, "unauthorized")
            Self.expectProblem(try await api.call(.post, "/v1/queue/tokens", key: "not-a-key"), 401, "unauthorized")
            Self.expectProblem(try await api.call(.get, current, key: ada.key), 401, "queue_token_invalid")
            Self.expectProblem(try await api.call(.get, current, key: ada.key, token: "unknown"), 401, "queue_token_invalid")
            Self.expectProblem(try await api.call(.get, current, key: bob.key, token: adaToken), 401, "queue_token_invalid")
            let raw = try await api.call(.get, current, headers: [.authorization: "Basic abc"])
            Self.expectProblem(raw, 401, "unauthorized")
            let big = String(repeating: "x", count: 70_000)
            Self.expectProblem(try await api.call(.post, "/v1/queue/tokens", key: ada.key, body: big), 413, "payload_too_large")
        }
    }

    @Test("unknown routes are 404, known paths with another method 405")
    func routing() async throws {
        try await TestGateway.run { api, _ in
            Self.expectProblem(try await api.call(.get, "/v1/nope"), 404, "not_found")
            Self.expectProblem(try await api.call(.get, "/nope"), 404, "not_found")
            // HEAD is what Allow says: the GET's status and headers, no body; never a stream.
            for path in ["/healthz", "/", "/assets/fan.js", "/v1/concerts"] {
                let head = try await api.call(.head, path)
                #expect(head.status == 200 && head.text.isEmpty, "HEAD \(path)")
            }
            let missing = try await api.call(.head, "/nope")
            #expect(missing.status == 404 && missing.text.isEmpty)
            let stream = try await api.call(.head, "/v1/queue/tokens/current/events")
            #expect(stream.status == 405 && stream.headers[.allow] == "GET")
            Self.expectProblem(try await api.call(.get, "/assets/nope.js"), 404, "not_found")
            Self.expectProblem(try await api.call(.get, "/assets/../openapi.yaml"), 404, "not_found")
            // Every 405 says what the path does answer (RFC 9110's Allow).
            for (method, path, allow) in [
                (HTTPRequest.Method.delete, "/v1/users", "POST"), (.put, "/v1/queue/tokens/current", "GET, HEAD"),
                (.patch, "/v1/reservations", "POST, GET, HEAD"), (.post, "/v1/reservations/7", "DELETE"),
                (.delete, "/healthz", "GET, HEAD"), (.get, "/v1/admin/concerts", "POST"), (.post, "/", "GET, HEAD"),
            ] {
                let reply = try await api.call(method, path)
                Self.expectProblem(reply, 405, "method_not_allowed")
                #expect(reply.headers[.allow] == allow, "\(method) \(path)")
            }
            // The probes answer JSON, as openapi.yaml says.
            for (path, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
                let reply = try await api.call(.get, path)
                #expect(reply.status == 200)
                #expect(reply.headers[.contentType] == "application/json")
                #expect(reply["status"] as? String == status)
            }
            let metrics = try await api.call(.get, "/metrics")
            #expect(metrics.status == 200)
        }
    }

    @Test("a database that does not answer gives 503 unavailable with Retry-After within the request deadline")
    func databaseDown() async throws {
        let dead = try #require(DatabaseURL(parsing: "postgres://postgres@127.0.0.1:1/nowhere"))
        try await TestDatabase.withClient(dead) { client in
            let settings = try Settings(values: ["REQUEST_TIMEOUT": "1", "DATABASE_URL": dead.urlString])
            let router = buildRouter(settings: settings, client: client, parts: GatewayParts(settings: settings, client: client),
                                     logger: Logger(label: "test.gateway"))
            try await Application(responder: gatewayResponder(router)).test(.router) { http in
                let api = TestAPI(client: http)
                let started = ContinuousClock.now
                let reply = try await api.call(.post, "/v1/users", body: #"{"name": "ada"}"#)
                Self.expectProblem(reply, 503, "unavailable")
                #expect(reply.headers[.retryAfter] != nil)
                #expect(ContinuousClock.now - started < .seconds(5))
                let poll = try await api.call(.get, "/v1/queue/tokens/current", key: "some-key", token: "t")
                Self.expectProblem(poll, 503, "unavailable")
                Self.expectProblem(try await api.call(.get, "/readyz"), 503, "unavailable")
                #expect(try await api.call(.get, "/healthz").status == 200)
            }
        }
    }

    @Test("a key over its request budget gets 429 rate_limited with Retry-After, before any work; other keys are untouched")
    func rateLimited() async throws {
        try await TestGateway.run(["RATE_LIMIT": "5"], paymentWorker: true) { api, db in
            let greedy = try await api.newUser("greedy")
            let other = try await api.newUser("other")
            // A budget of 5/s with bursts of 10: 60 charges at once cannot all pass.
            let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for _ in 0..<60 {
                    group.addTask { try await api.call(.post, "/v1/points/charge", key: greedy.key, body: #"{"amount": 1}"#) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // Accepted: answered (200), or enqueued and still running at REPLY_TIMEOUT (202, on a loaded machine).
            let passed = replies.filter { $0.status == 200 || $0.status == 202 }.count
            #expect(passed >= 10 && passed < 60, "\(passed) of 60 passed")
            #expect(replies.allSatisfy { $0.status == 200 || $0.status == 202 || $0.status == 429 })
            let refusal = try #require(replies.first { $0.status == 429 })
            Self.expectProblem(refusal, 429, "rate_limited")
            #expect(Int(refusal.headers[.retryAfter] ?? "") ?? 0 >= 1)
            // A refused write changed nothing: one job and one point per accepted charge only.
            #expect(try await db.scalar("SELECT count(*) FROM jobs", as: Int64.self) == Int64(passed))
            #expect(await eventually(timeout: .seconds(30)) {
                (try? await db.scalar("SELECT count(*) FROM jobs WHERE state = 'queued'", as: Int64.self)) == 0
            })
            #expect(try await db.scalar("SELECT balance FROM wallets WHERE user_id = \(greedy.id)", as: Int64.self) == Int64(passed))
            #expect(try await api.call(.get, "/v1/points", key: other.key).status == 200)
            // The budget refills.
            try await Task.sleep(for: .milliseconds(1200))
            #expect(try await api.call(.get, "/v1/points", key: greedy.key).status == 200)
        }
    }
}
