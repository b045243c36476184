import ArgumentParser
import AsyncHTTPClient
import Foundation
import Synchronization

/// `stagedoor-load rooms`: several waiting rooms at different rates at once. Each room gets its own
/// concert and its fans, who join and poll honouring `Retry-After` until active; prints each room's
/// admission rate (from the `activatedAt` the server reports) against its setting.
struct RoomsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rooms", abstract: "Several rooms at different rates at once.")

    @OptionGroup var target: Target
    @Option(help: "The gateway's ADMIN_KEY (rooms and concerts are created through the operator API).") var adminKey: String
    @Option(help: "Each room's rate, per second, comma-separated: one room per rate.") var rates = "5,20,50"
    @Option(help: "Fans per room.") var fans = 200
    @Option(help: "Instead of --fans: each room gets its rate × this many seconds of fans, so every room admits for as long.")
    var seconds: Int?
    @Option(help: "HTTP connections.") var connections = 256

    func run() async throws {
        let rates = self.rates.split(separator: ",").compactMap { Double($0) }
        guard !rates.isEmpty, rates.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--rates: numbers of at least 1") }
        let stats = Stats()
        let http = target.client(connections: connections)
        let api = API(http: http, base: target.url, stats: stats, patience: .seconds(600))
        var rooms: [Int64] = []
        for rate in rates {
            let concert = try await RoomFixtures.concert(api, adminKey: adminKey)
            rooms.append(try await RoomFixtures.room(api, adminKey: adminKey, concert: concert, rate: rate, opensAt: nil))
        }
        let started = ContinuousClock.now
        let results = try await withThrowingTaskGroup(of: (Int, [Date]).self) { group in
            for (index, room) in rooms.enumerated() {
                let count = seconds.map { Int(rates[index] * Double($0)) } ?? fans
                group.addTask {
                    let times = try await RoomFixtures.crowd(api, room: room, fans: count).map(\.activatedAt)
                    return (index, times)
                }
            }
            var all: [Int: [Date]] = [:]
            for try await (index, times) in group { all[index] = times }
            return all
        }
        try await http.shutdown()
        let crowd = seconds.map { "rate × \($0) s of fans each" } ?? "\(fans) fans each"
        print("### Rooms at once: \(rooms.count) rooms, \(crowd), all admitted after \((ContinuousClock.now - started).formatted(.units(allowed: [.seconds])))")
        print("")
        print("| room | configured (/s) | measured (/s) | measured / configured |")
        print("|---:|---:|---:|---:|")
        for (index, room) in rooms.enumerated() {
            let rate = RoomFixtures.admissionRate(results[index] ?? [])
            print(String(format: "| %d | %.0f | %.1f | %.2f |", room, rates[index], rate, rate / rates[index]))
        }
        print("")
        print(stats.table(title: "Requests"))
    }
}

/// `stagedoor-load fair-start`: U fans take tokens in a room before it opens; at the opening the
/// server draws their order. Prints the time from the opening to the last admission against
/// U / rate, and the rank correlation of admission order with arrival order (near 0 when fair).
struct FairStartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fair-start", abstract: "A crowd that arrives before a room opens.")

    @OptionGroup var target: Target
    @Option(help: "The gateway's ADMIN_KEY.") var adminKey: String
    @Option(help: "Fans who arrive before the opening.") var fans = 1_000
    @Option(help: "The room's rate, per second.") var rate: Double = 50
    @Option(help: "Seconds from now to the opening (all fans must have arrived by then).") var opensIn = 20
    @Option(help: "HTTP connections.") var connections = 256

    func run() async throws {
        let stats = Stats()
        let http = target.client(connections: connections)
        let api = API(http: http, base: target.url, stats: stats, patience: .seconds(600))
        let concert = try await RoomFixtures.concert(api, adminKey: adminKey)
        let opensAt = Date().addingTimeInterval(Double(opensIn))
        let room = try await RoomFixtures.room(api, adminKey: adminKey, concert: concert, rate: rate, opensAt: opensAt)
        let fans = try await RoomFixtures.crowd(api, room: room, fans: fans)
        let late = fans.filter { $0.joinedAt >= opensAt }.count
        let view = try await api.call("GET /v1/admin/rooms/{id}", .GET, "/v1/admin/rooms/\(room)", key: adminKey)
        guard let openedText = view["openedAt"] as? String, let openedAt = ISO8601DateFormatter().date(from: openedText) else {
            throw FixtureError("the room has no openedAt: \(view.json)")
        }
        try await http.shutdown()
        let last = fans.map(\.activatedAt).max() ?? openedAt
        let byArrival = fans.sorted { $0.joinedAt < $1.joinedAt }
        let rho = RoomFixtures.spearman(byArrival.map(\.activatedAt))
        let ideal = Double(fans.count) / rate
        print("### Fair start: \(fans.count) fans before the opening (\(late) arrived late), \(String(format: "%.0f", rate))/s")
        print("")
        print("| opening → last admission (s) | fans / rate (s) | ratio | rank correlation, admission vs arrival |")
        print("|---:|---:|---:|---:|")
        print(String(format: "| %.1f | %.1f | %.2f | %.3f |", last.timeIntervalSince(openedAt), ideal,
                     last.timeIntervalSince(openedAt) / ideal, rho))
        print("")
        print(stats.table(title: "Requests"))
    }
}

/// What the room scenarios share: fixtures through the operator API, fans, and the figures.
enum RoomFixtures {
    struct Fan: Sendable {
        let joinedAt: Date
        let activatedAt: Date
    }

    static func concert(_ api: API, adminKey: String) async throws -> Int64 {
        let startsAt = ISO8601DateFormatter().string(from: Date().addingTimeInterval(30 * 86_400))
        let created = try await api.call("POST /v1/admin/concerts", .POST, "/v1/admin/concerts", key: adminKey,
                                         body: "{\"title\": \"On sale\", \"artist\": \"The Load\", \"schedules\": [{\"startsAt\": \"\(startsAt)\", \"price\": 100}]}")
        guard created.status == 201, let id = created.int("id") else { throw FixtureError("could not create a concert: \(created.outcome)") }
        return id
    }

    /// A room for `concert` at `rate`, opening at `opensAt` (nil: now), with a cap no crowd here reaches.
    static func room(_ api: API, adminKey: String, concert: Int64, rate: Double, opensAt: Date?) async throws -> Int64 {
        let opens = opensAt.map { ", \"opensAt\": \"\(ISO8601DateFormatter().string(from: $0))\"" } ?? ""
        let created = try await api.call("POST /v1/admin/rooms", .POST, "/v1/admin/rooms", key: adminKey, body: """
            {"name": "load \(concert)", "concertIds": [\(concert)], "admitPerSecond": \(rate), "maxActive": 10000000\(opens)}
            """)
        guard created.status == 201, let id = created.int("roomId") else { throw FixtureError("could not create a room: \(created.outcome)") }
        return id
    }

    /// `fans` new users join `room` at once and poll, honouring `Retry-After`, until active; each
    /// one's arrival (client clock, after its token was issued) and activation (server clock).
    static func crowd(_ api: API, room: Int64, fans: Int) async throws -> [Fan] {
        try await withThrowingTaskGroup(of: Fan.self) { group in
            for n in 0..<fans {
                group.addTask {
                    let user = try await api.call("POST /v1/users", .POST, "/v1/users", body: "{\"name\": \"fan \(n)\"}")
                    guard let key = user["apiKey"] as? String else { throw FixtureError("POST /v1/users: \(user.outcome)") }
                    var answer = try await api.call("POST /v1/queue/tokens", .POST, "/v1/queue/tokens", key: key, body: "{\"roomId\": \(room)}")
                    let joinedAt = Date()
                    guard let token = answer["token"] as? String else { throw FixtureError("POST /v1/queue/tokens: \(answer.outcome)") }
                    while answer["status"] as? String == "waiting" {
                        let wait = answer.headers.first(name: "Retry-After").flatMap(Int.init) ?? 1
                        try await Task.sleep(for: .seconds(wait))
                        answer = try await api.call("GET /v1/queue/tokens/current", .GET, "/v1/queue/tokens/current", key: key, token: token)
                    }
                    guard answer["status"] as? String == "active", let text = answer["activatedAt"] as? String,
                          let activatedAt = ISO8601DateFormatter().date(from: text) else {
                        throw FixtureError("fan \(n) ended \(answer["status"] ?? "?"): \(answer.outcome)")
                    }
                    return Fan(joinedAt: joinedAt, activatedAt: activatedAt)
                }
            }
            var all: [Fan] = []
            for try await fan in group { all.append(fan) }
            return all
        }
    }

    /// Tokens per second after the first tick: the admissions after the first activation time over
    /// the time from it to the last (whole seconds, as the API reports times).
    static func admissionRate(_ times: [Date]) -> Double {
        guard let first = times.min(), let last = times.max(), last > first else { return 0 }
        return Double(times.filter { $0 > first }.count) / last.timeIntervalSince(first)
    }

    /// Spearman's rank correlation between positions 0… (arrival order) and `values` (ties get their
    /// mean rank).
    static func spearman(_ values: [Date]) -> Double {
        let n = values.count
        guard n > 2 else { return 0 }
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: n)
        var start = 0
        while start < n {
            var end = start
            while end + 1 < n, values[order[end + 1]] == values[order[start]] { end += 1 }
            let mean = Double(start + end) / 2
            for k in start...end { ranks[order[k]] = mean }
            start = end + 1
        }
        let arrival = (0..<n).map(Double.init)
        func correlation(_ a: [Double], _ b: [Double]) -> Double {
            let ma = a.reduce(0, +) / Double(n), mb = b.reduce(0, +) / Double(n)
            var cov = 0.0, va = 0.0, vb = 0.0
            for i in 0..<n {
                cov += (a[i] - ma) * (b[i] - mb)
                va += (a[i] - ma) * (a[i] - ma)
                vb += (b[i] - mb) * (b[i] - mb)
            }
            return va > 0 && vb > 0 ? cov / (va * vb).squareRoot() : 0
        }
        return correlation(arrival, ranks)
    }
}
