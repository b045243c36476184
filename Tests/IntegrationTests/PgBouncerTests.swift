import AsyncHTTPClient
import Foundation
import PostgresNIO
import Shared
import Testing
import TestSupport

/// The three processes with their pooled connections through PgBouncer in transaction mode (the
/// test command starts one in front of the test PostgreSQL: `TEST_PGBOUNCER_URL`).
@Suite("Through PgBouncer in transaction mode")
struct PgBouncerTests {
    @Test("gateway and workers pooled through PgBouncer (unnamed statements), sessions direct: a fan books and pays, a rival is refused, nothing half-done")
    func bookThroughThePooler() async throws {
        guard let raw = ProcessInfo.processInfo.environment["TEST_PGBOUNCER_URL"], let bouncer = DatabaseURL(parsing: raw) else {
            throw TestSetupError("TEST_PGBOUNCER_URL is not set: run the tests with `make test`, which starts PgBouncer")
        }
        // An empty database: the processes migrate it at start, over their direct address.
        let direct = try await TestDatabase.create(migrated: false)
        defer { Task { try? await TestDatabase.drop(direct.database) } }
        let pooled = bouncer.with(database: direct.database)
        let adminKey = "bouncer-admin"
        let environment = [
            "DATABASE_URL": pooled.urlString, "DATABASE_DIRECT_URL": direct.urlString, "DATABASE_STATEMENTS": "unnamed",
            "DB_POOL_SIZE": "4", "ADMIN_KEY": adminKey, "ADMIT_PER_SECOND": "100", "QUEUE_TICK": "0.2", "RATE_LIMIT": "0",
        ]
        let gateway = try RunningProcess("stagedoor-gateway", environment: environment.merging(["PORT": "0"]) { $1 })
        let queueWorker = try RunningProcess("stagedoor-queue-worker", environment: environment)
        let paymentWorker = try RunningProcess("stagedoor-payment-worker", environment: environment)
        let processes = [gateway, queueWorker, paymentWorker]
        defer { for process in processes { process.send(SIGKILL) } }
        _ = await eventually(timeout: .seconds(60)) { MetricsTests.listeningPort(gateway.output) != nil }
        let port = try #require(MetricsTests.listeningPort(gateway.output), "\(gateway.output)")
        let api = "http://127.0.0.1:\(port)"
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let concert = try await MetricsTests.call(http, .POST, "\(api)/v1/admin/concerts", bearer: adminKey,
                                                      body: #"{"title": "B", "artist": "A", "schedules": [{"startsAt": "2030-01-01T20:00:00Z", "price": 300, "seats": 5}]}"#)
            #expect(concert.status == 201, "\(concert.body)")
            let schedule = try #require(((concert.json["schedules"] as? [[String: Any]])?.first?["id"]) as? Int)

            // Two fans through the line; both admitted.
            var fans: [(key: String, token: String)] = []
            for name in ["fan", "rival"] {
                let user = try await MetricsTests.call(http, .POST, "\(api)/v1/users", body: #"{"name": "\#(name)"}"#)
                let key = try #require(user.json["apiKey"] as? String, "\(user.body)")
                let token = try #require((try await MetricsTests.call(http, .POST, "\(api)/v1/queue/tokens", bearer: key)).json["token"] as? String)
                let active = await eventually(timeout: .seconds(30)) {
                    let poll = try? await MetricsTests.call(http, .GET, "\(api)/v1/queue/tokens/current", bearer: key, queueToken: token)
                    return poll?.json["status"] as? String == "active"
                }
                try #require(active, "never admitted: \(queueWorker.output)")
                fans.append((key, token))
            }
            // A hold, a charge and a payment each answered at once: the worker's reply came back over
            // the gateway's direct LISTEN session.
            let (key, token) = fans[0]
            let held = try await MetricsTests.call(http, .POST, "\(api)/v1/reservations", bearer: key, queueToken: token,
                                                   body: #"{"scheduleId": \#(schedule), "seatNo": 3}"#)
            #expect(held.status == 201, "\(held.body)")
            let reservation = try #require(held.json["reservationId"] as? Int)
            let rival = try await MetricsTests.call(http, .POST, "\(api)/v1/reservations", bearer: fans[1].key, queueToken: fans[1].token,
                                                    body: #"{"scheduleId": \#(schedule), "seatNo": 3}"#)
            #expect(rival.status == 409 && rival.body.contains("seat_unavailable"), "\(rival.body)")
            let charged = try await MetricsTests.call(http, .POST, "\(api)/v1/points/charge", bearer: key, body: #"{"amount": 1000}"#)
            #expect(charged.status == 200 && charged.json["balance"] as? Int == 1000, "\(charged.body)")
            let paid = try await MetricsTests.call(http, .POST, "\(api)/v1/payments", bearer: key, queueToken: token,
                                                   body: #"{"reservationId": \#(reservation)}"#)
            #expect(paid.status == 201 && paid.json["balance"] as? Int == 700, "\(paid.body)")

            try await TestDatabase.withClient(direct, poolSize: 1) { client in
                #expect(try await client.scalar("SELECT count(*) FROM seats WHERE status = 'sold'", as: Int64.self) == 1)
                #expect(try await client.scalar("SELECT count(*) FROM payments", as: Int64.self) == 1)
                #expect(try await client.scalar("SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded')", as: Int64.self) == 0)
                // The sessions a pooler cannot carry are PostgreSQL's own, each still listening or leading.
                let sessions = try await client.scalar("""
                    SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                    AND application_name IN ('stagedoor-gateway-replies', 'stagedoor-payment-worker-listener', 'stagedoor-queue-worker-admission')
                    """, as: Int64.self)
                #expect(sessions == 3)
            }
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
        for process in processes { process.send(SIGTERM) }
        for process in processes { #expect(await process.waitForExit() == 0, "\(process.output)") }
        for process in processes {
            #expect(!process.output.contains("prepared statement"), "\(process.output)")
        }
    }
}
