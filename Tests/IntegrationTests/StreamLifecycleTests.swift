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
        guard let text = try? await MetricsTests.call(http, .GET, "\(api)/metrics").body else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix("stagedoor_gateway_open_streams ") }
            .flatMap { Double($0.split(separator: " ").last ?? "") }
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
