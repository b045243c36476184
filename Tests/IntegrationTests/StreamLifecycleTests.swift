import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import TestSupport

/// Live-update streams against a real gateway process: a client that goes away frees its stream at
/// once; SIGTERM ends every open stream and the gateway exits promptly.
@Suite("Live-update streams of a real gateway")
struct StreamLifecycleTests {
    /// The value of `stagedoor_gateway_open_streams` on the gateway's `/metrics`.
    static func openStreams(_ http: HTTPClient, _ api: String) async -> Double? {
        await sample(http, api, "stagedoor_gateway_open_streams ")
    }

    /// The value of the sample on the gateway's `/metrics` whose line starts with `prefix`.
    static func sample(_ http: HTTPClient, _ api: String, _ prefix: String) async -> Double? {
        guard let text = try? await MetricsTests.call(http, .GET, "\(api)/metrics").body else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix(prefix) }
            .flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// Streams opened so far, by how they were served (`event_loop` or `task`).
    static func opened(_ http: HTTPClient, _ api: String, served: String) async -> Double? {
        await sample(http, api, "stagedoor_gateway_streams_opened_total{served=\"\(served)\"}")
    }

    /// Opens a stream with `http` and reads its first event; the task then reads the rest until the
    /// server ends it (the whole text) or it is cancelled (nil).
    static func open(_ http: HTTPClient, _ api: String, _ fan: (key: String, token: String)) async throws
        -> (first: String, rest: Task<String?, Never>) {
        var request = HTTPClientRequest(url: "\(api)/v1/queue/tokens/current/events")
        request.headers.add(name: "Authorization", value: "Bearer \(fan.key)")
        request.headers.add(name: "X-Queue-Token", value: fan.token)
        let response = try await http.execute(request, timeout: .seconds(120))
        #expect(response.status == .ok)
        #expect(response.headers.first(name: "Content-Type") == "text/event-stream")
        #expect(response.headers.first(name: "Connection") == "close")
        var iterator = response.body.makeAsyncIterator()
        let first = try await iterator.next().map { String(buffer: $0) } ?? ""
        let rest = Task { [iterator] () -> String? in
            var iterator = iterator
            var text = first
            do {
                while let part = try await iterator.next() { text += String(buffer: part) }
                return text  // the server ended it
            } catch {
                return nil
            }
        }
        return (first, rest)
    }

    /// A user and a queue token from the gateway at `api`.
    static func fan(_ http: HTTPClient, _ api: String, _ name: String) async throws -> (key: String, token: String) {
        let user = try await MetricsTests.call(http, .POST, "\(api)/v1/users", body: #"{"name": "\#(name)"}"#)
        let key = try #require(user.json["apiKey"] as? String)
        let token = try await MetricsTests.call(http, .POST, "\(api)/v1/queue/tokens", bearer: key)
        return (key, try #require(token.json["token"] as? String))
    }

    @Test("""
        a stream asked for first on its connection is served on the event loop, one asked for after another request \
        by a task: the same events, both end active; a client that goes frees either at once; SIGTERM ends them; \
        an error before the stream spends a request's budget once
        """)
    func bothWaysOfServing() async throws {
        let url = try await TestDatabase.create(migrated: true)
        defer { Task { try? await TestDatabase.drop(url.database) } }
        try await TestDatabase.withClient(url) { db in
            try await db.query("UPDATE rooms SET state = 'paused' WHERE id = 1")
            let gateway = try RunningProcess("stagedoor-gateway", environment: [
                "DATABASE_URL": url.urlString, "PORT": "0", "RATE_LIMIT": "1",
            ])
            _ = await eventually(timeout: .seconds(60)) { MetricsTests.listeningPort(gateway.output) != nil }
            let api = "http://127.0.0.1:\(try #require(MetricsTests.listeningPort(gateway.output), "\(gateway.output)"))"
            // One connection, reused: a stream asked for on it after other requests is served by a task.
            let reused = HTTPClient(eventLoopGroupProvider: .singleton,
                                    configuration: .init(connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1)))
            let metrics = HTTPClient(eventLoopGroupProvider: .singleton)
            var clients = [reused, metrics]
            /// A client whose first request opens a new connection.
            func fresh() -> HTTPClient {
                let client = HTTPClient(eventLoopGroupProvider: .singleton)
                clients.append(client)
                return client
            }
            var queueWorker: RunningProcess?
            do {
                var fans: [(key: String, token: String)] = []
                for n in 0..<4 { fans.append(try await Self.fan(reused, api, "p\(n)")) }

                // Served by a task: the reused connection's next request.
                let inTask = try await Self.open(reused, api, fans[0])
                // Served on the event loop: a new connection's first request.
                let onLoop = try await Self.open(fresh(), api, fans[1])
                #expect(await Self.opened(metrics, api, served: "task") == 1)
                #expect(await Self.opened(metrics, api, served: "event_loop") == 1)
                for first in [inTask.first, onLoop.first] {
                    #expect(first.hasPrefix("event: token\nid: 1\ndata: "), "\(first)")
                    #expect(tokenEvents(in: first).first?.json["status"] as? String == "waiting", "\(first)")
                }

                // A client that goes away frees its event-loop stream at once.
                let leavingClient = fresh()
                let leaving = try await Self.open(leavingClient, api, fans[2])
                #expect(await eventually { await Self.openStreams(metrics, api) == 3 })
                leaving.rest.cancel()
                try await leavingClient.shutdown()
                #expect(await eventually(timeout: .seconds(5)) { await Self.openStreams(metrics, api) == 2 },
                        "an event-loop stream whose client went away stayed open")

                // An error before the stream, each on a new connection: the budget (RATE_LIMIT 1: a
                // burst of 2, full again by now) is spent once per request — 401, 401, then 429.
                try await Task.sleep(for: .seconds(2))
                for expected in [401, 401, 429] {
                    let reply = try await MetricsTests.call(fresh(), .GET, "\(api)/v1/queue/tokens/current/events",
                                                            bearer: fans[3].key, queueToken: "not-a-token")
                    #expect(reply.status == expected, "\(reply.body)")
                }

                // The room opens: both streams watch their place fall to active, and end.
                try await db.query("UPDATE rooms SET state = 'open', admit_per_second = 1 WHERE id = 1")
                queueWorker = try RunningProcess("stagedoor-queue-worker", environment: [
                    "DATABASE_URL": url.urlString, "QUEUE_TICK": "0.2",
                ])
                for stream in [inTask, onLoop] {
                    let text = try #require(await stream.rest.value, "the stream failed")
                    let events = tokenEvents(in: text)
                    #expect(events.last?.json["status"] as? String == "active", "\(text.suffix(300))")
                    #expect(events.map(\.id) == Array(1...events.count), "\(text)")
                    let positions = events.compactMap { $0.json["position"] as? Int }
                    #expect(zip(positions, positions.dropFirst()).allSatisfy { $0 >= $1 }, "positions rose: \(positions)")
                }

                // SIGTERM ends an open event-loop stream properly, and the gateway exits.
                try await db.query("UPDATE rooms SET state = 'paused' WHERE id = 1")
                let late = try await Self.fan(metrics, api, "late")
                let staying = try await Self.open(fresh(), api, late)
                #expect(await Self.opened(metrics, api, served: "event_loop") == 3)
                gateway.send(SIGTERM)
                #expect(await staying.rest.value != nil, "the gateway did not end the stream at shutdown")
                #expect(await gateway.waitForExit(timeout: .seconds(10)) == 0, "\(gateway.output)")
            } catch {
                gateway.send(SIGKILL)
                queueWorker?.send(SIGKILL)
                for client in clients { try? await client.shutdown() }
                throw error
            }
            queueWorker?.send(SIGTERM)
            _ = await queueWorker?.waitForExit()
            for client in clients { try? await client.shutdown() }
        }
    }

    @Test("a closed client frees its stream at once (the gauge returns to 0); SIGTERM ends the open streams and the gateway exits 0")
    func closeAndShutdown() async throws {
        let url = try await TestDatabase.create(migrated: true)
        defer { Task { try? await TestDatabase.drop(url.database) } }
        // No queue worker: tokens stay waiting, streams stay open.
        let gateway = try RunningProcess("stagedoor-gateway", environment: ["DATABASE_URL": url.urlString, "PORT": "0"])
        _ = await eventually(timeout: .seconds(60)) { MetricsTests.listeningPort(gateway.output) != nil }
        let port = try #require(MetricsTests.listeningPort(gateway.output), "\(gateway.output)")
        let api = "http://127.0.0.1:\(port)"
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            var fans: [(key: String, token: String)] = []
            for n in 0..<2 {
                let user = try await MetricsTests.call(http, .POST, "\(api)/v1/users", body: #"{"name": "s\#(n)"}"#)
                let key = try #require(user.json["apiKey"] as? String)
                let token = try await MetricsTests.call(http, .POST, "\(api)/v1/queue/tokens", bearer: key)
                fans.append((key, try #require(token.json["token"] as? String)))
            }
            /// Opens a stream and reads its first event; the task then waits on the rest until cancelled or ended.
            func open(_ fan: (key: String, token: String)) async throws -> (first: String, rest: Task<Bool, Never>) {
                var request = HTTPClientRequest(url: "\(api)/v1/queue/tokens/current/events")
                request.headers.add(name: "Authorization", value: "Bearer \(fan.key)")
                request.headers.add(name: "X-Queue-Token", value: fan.token)
                let response = try await http.execute(request, timeout: .seconds(120))
                #expect(response.headers.first(name: "Content-Type") == "text/event-stream")
                var iterator = response.body.makeAsyncIterator()
                let first = try await iterator.next().map { String(buffer: $0) } ?? ""
                let rest = Task { [iterator] in
                    var iterator = iterator
                    do {
                        while try await iterator.next() != nil {}
                        return true  // the server ended it
                    } catch {
                        return false
                    }
                }
                return (first, rest)
            }

            let closing = try await open(fans[0])
            #expect(closing.first.hasPrefix("event: token\nid: 1\ndata: "), "\(closing.first)")
            #expect(await eventually { await Self.openStreams(http, api) == 1 })
            closing.rest.cancel()
            #expect(await eventually(timeout: .seconds(5)) { await Self.openStreams(http, api) == 0 },
                    "a stream whose client went away stayed open")

            let staying = try await open(fans[1])
            #expect(await eventually { await Self.openStreams(http, api) == 1 })
            let stopAsked = ContinuousClock.now
            gateway.send(SIGTERM)
            #expect(await staying.rest.value, "the gateway did not end the stream at shutdown")
            #expect(await gateway.waitForExit(timeout: .seconds(10)) == 0, "\(gateway.output)")
            #expect(ContinuousClock.now - stopAsked < .seconds(5))
        } catch {
            try? await http.shutdown()
            gateway.send(SIGKILL)
            throw error
        }
        try await http.shutdown()
    }
}
