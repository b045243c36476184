import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import TestSupport

/// Hundreds of live-update streams through two real gateways and a queue worker: every stream ends
/// at `active` with its position never rising, also when a gateway's listening session is killed
/// halfway (it reconnects and re-reads the rooms' marks: notices are hints).
@Suite("Streams across gateways")
struct StreamsAcrossGatewaysTests {
    @Test("200 streams through two gateways, one gateway's listener killed while they wait: all end active, no position rises")
    func twoGateways() async throws {
        let url = try await TestDatabase.create(migrated: true)
        defer { Task { try? await TestDatabase.drop(url.database) } }
        try await TestDatabase.withClient(url) { db in
            try await db.query("UPDATE rooms SET state = 'paused' WHERE id = 1")
            let gateways = try (0..<2).map { _ in
                try RunningProcess("stagedoor-gateway", environment: ["DATABASE_URL": url.urlString, "PORT": "0", "RATE_LIMIT": "0"])
            }
            var apis: [String] = []
            for gateway in gateways {
                _ = await eventually(timeout: .seconds(60)) { MetricsTests.listeningPort(gateway.output) != nil }
                apis.append("http://127.0.0.1:\(try #require(MetricsTests.listeningPort(gateway.output), "\(gateway.output)"))")
            }
            let http = HTTPClient(eventLoopGroupProvider: .singleton,
                                  configuration: .init(connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)))
            let queueWorker = try RunningProcess("stagedoor-queue-worker", environment: [
                "DATABASE_URL": url.urlString, "ADMIT_PER_SECOND": "50", "QUEUE_TICK": "0.2",
            ])
            do {
                let fans = 200
                var credentials: [(api: String, key: String, token: String)] = []
                for n in 0..<fans {
                    let api = apis[n % 2]
                    let user = try await MetricsTests.call(http, .POST, "\(api)/v1/users", body: #"{"name": "f\#(n)"}"#)
                    let key = try #require(user.json["apiKey"] as? String)
                    let token = try await MetricsTests.call(http, .POST, "\(api)/v1/queue/tokens", bearer: key)
                    credentials.append((api, key, try #require(token.json["token"] as? String)))
                }
                let streams = Task {
                    try await withThrowingTaskGroup(of: String.self) { group in
                        for fan in credentials {
                            group.addTask {
                                var request = HTTPClientRequest(url: "\(fan.api)/v1/queue/tokens/current/events")
                                request.headers.add(name: "Authorization", value: "Bearer \(fan.key)")
                                request.headers.add(name: "X-Queue-Token", value: fan.token)
                                let response = try await http.execute(request, timeout: .seconds(120))
                                return String(buffer: try await response.body.collect(upTo: 1 << 20))
                            }
                        }
                        var bodies: [String] = []
                        for try await body in group { bodies.append(body) }
                        return bodies
                    }
                }
                // Every stream open and waiting; then one gateway loses its listening session, and the room opens.
                try await Task.sleep(for: .seconds(2))
                try await db.query("""
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE application_name = 'stagedoor-gateway-replies' AND datname = current_database()
                    ORDER BY backend_start LIMIT 1
                    """)
                try await db.query("UPDATE rooms SET state = 'open' WHERE id = 1")
                let bodies = try await streams.value
                #expect(bodies.count == fans)
                for body in bodies {
                    let events = tokenEvents(in: body)
                    #expect(events.last?.json["status"] as? String == "active", "\(body.suffix(300))")
                    let positions = events.compactMap { $0.json["position"] as? Int }
                    #expect(zip(positions, positions.dropFirst()).allSatisfy { $0 >= $1 }, "positions rose: \(positions)")
                }
                #expect(try await db.scalar("SELECT count(*) FROM queue_tokens WHERE status = 'active'", as: Int64.self) == Int64(fans))
            } catch {
                try? await http.shutdown()
                for process in gateways + [queueWorker] { process.send(SIGKILL) }
                throw error
            }
            try await http.shutdown()
            for process in gateways + [queueWorker] { process.send(SIGTERM) }
            for process in gateways + [queueWorker] { #expect(await process.waitForExit() == 0, "\(process.output)") }
        }
    }
}
