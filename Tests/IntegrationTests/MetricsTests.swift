import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TestSupport

/// The metrics table of docs/operations.md is a promise to operators: each process exposes the series it lists.
@Suite("Metrics each process exposes")
struct MetricsTests {
    @Test("after a reservation through real processes, every series docs/operations.md lists is on that process's /metrics, and every series the Grafana dashboard reads on some process's")
    func documentedMetricsAreExposed() async throws {
        let url = try await TestDatabase.create(migrated: true)
        defer { Task { try? await TestDatabase.drop(url.database) } }
        let adminKey = "metrics-test-admin-key"
        let gateway = try RunningProcess("stagedoor-gateway", environment: [
            "DATABASE_URL": url.urlString, "PORT": "0", "ADMIN_KEY": adminKey,
        ])
        let queueWorker = try RunningProcess("stagedoor-queue-worker", environment: [
            "DATABASE_URL": url.urlString, "METRICS_PORT": "0", "ADMIT_PER_SECOND": "50", "QUEUE_TICK": "0.2",
        ])
        let paymentWorker = try RunningProcess("stagedoor-payment-worker", environment: [
            "DATABASE_URL": url.urlString, "METRICS_PORT": "0",
        ])
        let processes = [(name: "gateway", process: gateway), (name: "queue worker", process: queueWorker),
                         (name: "payment worker", process: paymentWorker)]
        var ports: [String: Int] = [:]
        for (name, process) in processes {
            _ = await eventually(timeout: .seconds(60)) { Self.listeningPort(process.output) != nil }
            ports[name] = try #require(Self.listeningPort(process.output), "\(name) never listened: \(process.output)")
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let api = "http://127.0.0.1:\(ports["gateway"]!)"
            // A concert, a user, a token the queue worker admits, and one reservation: a job through the payment worker.
            let concert = try await Self.call(http, .POST, "\(api)/v1/admin/concerts", bearer: adminKey,
                                              body: #"{"title": "M", "artist": "A", "schedules": [{"startsAt": "2030-01-01T20:00:00Z", "price": 10, "seats": 5}]}"#)
            #expect(concert.status == 201, "\(concert.body)")
            let schedule = try #require(((concert.json["schedules"] as? [[String: Any]])?.first?["id"]) as? Int)
            let user = try await Self.call(http, .POST, "\(api)/v1/users", body: #"{"name": "m"}"#)
            let key = try #require(user.json["apiKey"] as? String, "\(user.body)")
            let token = try #require((try await Self.call(http, .POST, "\(api)/v1/queue/tokens", bearer: key)).json["token"] as? String)
            let active = await eventually(timeout: .seconds(30)) {
                let poll = try? await Self.call(http, .GET, "\(api)/v1/queue/tokens/current", bearer: key, queueToken: token)
                return poll?.json["status"] as? String == "active"
            }
            try #require(active, "the token was never admitted: \(queueWorker.output)")
            let held = try await Self.call(http, .POST, "\(api)/v1/reservations", bearer: key, queueToken: token,
                                           body: #"{"scheduleId": \#(schedule), "seatNo": 1}"#)
            #expect(held.status == 201, "\(held.body)")
            // The same seat again: the enqueue sees it held and refuses it there (the gateway's refusal counter).
            let again = try await Self.call(http, .POST, "\(api)/v1/reservations", bearer: key, queueToken: token,
                                            body: #"{"scheduleId": \#(schedule), "seatNo": 1}"#)
            #expect(again.status == 409, "\(again.body)")

            let promised = try Self.documentedMetrics()
            #expect(Set(promised.keys) == Set(processes.map(\.name)), "docs/operations.md's metrics table lists \(promised.keys.sorted())")
            // Workers' gauges are sampled periodically; give them a few seconds to appear.
            var exposed = ""
            for (name, _) in processes {
                let expected = promised[name, default: []]
                var missing = expected
                _ = await eventually(timeout: .seconds(15)) {
                    guard let text = try? await Self.call(http, .GET, "http://127.0.0.1:\(ports[name]!)/metrics").body else { return false }
                    missing = expected.filter { !Self.exposes(text, $0) }
                    if missing.isEmpty { exposed += text + "\n" }
                    return missing.isEmpty
                }
                #expect(missing.isEmpty, "\(name) does not expose \(missing.sorted())")
            }
            let panels = try Self.dashboardMetrics()
            #expect(panels.count >= 15, "\(panels.sorted())")
            let unknown = panels.filter { !Self.exposes(exposed, $0) }
            #expect(unknown.isEmpty, "the dashboard reads series no process exposes: \(unknown.sorted())")
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
        for (_, process) in processes { process.send(SIGTERM) }
        for (name, process) in processes { #expect(await process.waitForExit() == 0, "\(name): \(process.output)") }
    }

    /// The port in Hummingbird's "listening on 127.0.0.1:PORT" line.
    static func listeningPort(_ output: String) -> Int? {
        guard let match = output.firstMatch(of: /listening on [0-9.]+:(\d+)/) else { return nil }
        return Int(match.1)
    }

    /// Whether a Prometheus exposition has a sample of `name` (a histogram's `_bucket`/`_count` count).
    static func exposes(_ text: String, _ name: String) -> Bool {
        text.split(separator: "\n").contains { line in
            !line.hasPrefix("#") && [name + "{", name + " ", name + "_bucket{", name + "_count"].contains { line.hasPrefix($0) }
        }
    }

    /// The metric families deploy/grafana/stagedoor-dashboard.json queries (a histogram's `_bucket` as its family).
    static func dashboardMetrics() throws -> Set<String> {
        let dashboard = try JSONSerialization.jsonObject(with: Data(contentsOf: Checkout.url("deploy/grafana/stagedoor-dashboard.json")))
        let panels = (dashboard as? [String: Any])?["panels"] as? [[String: Any]] ?? []
        let expressions = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
        return Set(expressions.flatMap { expression in
            // Label names live in `by (…)` and `{…}`: drop those first.
            let names = expression.replacing(/by \([^)]*\)/, with: "").replacing(/\{[^}]*\}/, with: "")
            return names.matches(of: /\b((?:stagedoor|hb|http)_[a-z_]+)/).map { match in
                let name = String(match.1)
                return name.hasSuffix("_bucket") ? String(name.dropLast(7)) : name
            }
        })
    }

    /// docs/operations.md's metrics table: process → metric names (labels dropped).
    static func documentedMetrics() throws -> [String: Set<String>] {
        let doc = try String(contentsOf: Checkout.url("docs/operations.md"), encoding: .utf8)
        var table: [String: Set<String>] = [:]
        for line in doc.split(separator: "\n") where line.contains("`/metrics` on") || line.contains("`GET /metrics` on") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3 else { continue }
            // Metric names, not other code in the cell (a channel name, a setting).
            let names = cells[2].matches(of: /`((?:stagedoor|hb|http)_[a-z_]+)[^`]*`/).map { String($0.1) }
            table[cells[0], default: []].formUnion(names)
        }
        return table
    }

    struct Reply {
        let status: Int
        let body: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    }

    static func call(_ http: HTTPClient, _ method: HTTPMethod, _ url: String, bearer: String? = nil, queueToken: String? = nil,
                     body: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        if let queueToken { request.headers.add(name: "X-Queue-Token", value: queueToken) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await http.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: Int(response.status.code), body: String(buffer: bytes))
    }
}
