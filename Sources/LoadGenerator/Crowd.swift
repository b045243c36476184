import ArgumentParser
import AsyncHTTPClient
import Foundation
import PostgresNIO
import Synchronization

/// `stagedoor-load crowd`: a flash crowd plays the real journey — join, wait in line honouring
/// `Retry-After`, browse dates and seats, reserve, charge, pay — and writes what each client was
/// told to a records file that `check` compares with the database.
struct CrowdCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crowd", abstract: "A flash crowd playing the whole journey.")

    @OptionGroup var target: Target
    @Option(help: "Users in the crowd.") var users = 2_000
    @Option(help: "Seconds over which the crowd arrives.") var arriveOver = 10
    @Option(help: "HTTP connections.") var connections = 256
    @Option(help: "With the admin key, the crowd creates its own concert (else it books the first one listed).") var adminKey: String?
    @Option(help: "Schedules of the concert it creates.") var schedules = 4
    @Option(help: "Seats per schedule of the concert it creates.") var seats = 1000
    @Option(help: "The queue worker's ADMIT_PER_SECOND, to compare the measured admission rate with.") var admitPerSecond: Double?
    @Option(help: "Where to write what each client was told (JSON), for `check`.") var records: String?
    @Option(help: "Every Nth user resends its charge and payment with the same Idempotency-Key.") var replayEvery = 10

    func run() async throws {
        let stats = Stats()
        let http = target.client(connections: connections)
        let api = API(http: http, base: target.url, stats: stats, patience: .seconds(180))
        let concertID = try await concert(api)
        let board = Board()
        stats.restart()
        let started = ContinuousClock.now
        let progress = Progress(stats: stats) { board.line }
        await withDiscardingTaskGroup { group in
            for n in 0..<users {
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(Int64(arriveOver * 1000) * Int64(n) / Int64(max(users, 1))))
                    do {
                        let record = try await Fan(api: api, number: n, concertID: concertID, replay: replayEvery > 0 && n % replayEvery == 0,
                                                   board: board).play()
                        board.finished(record)
                    } catch {
                        board.unanswered("\(error)")
                    }
                }
            }
        }
        progress.finish()
        let elapsed = ContinuousClock.now - started
        try await http.shutdown()
        print(stats.table(title: "Flash crowd: \(users) users arriving over \(arriveOver) s, all done after \(elapsed.formatted(.units(allowed: [.seconds])))"))
        print("")
        print(board.summary)
        if !target.databaseUrl.isEmpty {
            let ids = board.userIDs
            let (seconds, rate) = try await Fixtures.with(target.databaseUrl) { db in try await Self.admission(db, users: ids) }
            let configured = admitPerSecond.map { String(format: " against %.0f/s configured (%.2f×)", $0, rate / $0) } ?? ""
            print(String(format: "admission while a line was waiting: %.1f/s over %d s", rate, seconds) + configured)
        }
        if !stats.lostJobs.isEmpty { print("202s whose job then read 404: \(stats.lostJobs.count), first \(stats.lostJobs[0])") }
        if let records { try board.write(to: records, lostJobs: stats.lostJobs) }
        if board.unansweredCount > 0 { throw ExitCode(1) }
    }

    /// The concert to book: a new one when we have the admin key, else the first listed.
    func concert(_ api: API) async throws -> Int64 {
        if let adminKey {
            let schedules = (1...self.schedules).map { day in
                "{\"startsAt\": \"\(ISO8601DateFormatter().string(from: Date().addingTimeInterval(Double(day) * 86_400 * 7)))\", \"price\": 5000, \"seats\": \(seats)}"
            }
            let created = try await api.call("POST /v1/admin/concerts", .POST, "/v1/admin/concerts", key: adminKey,
                                             body: "{\"title\": \"Flash crowd\", \"artist\": \"The Load\", \"schedules\": [\(schedules.joined(separator: ","))]}")
            guard created.status == 201, let id = created.int("id") else { throw FixtureError("could not create the concert: \(created.outcome)") }
            return id
        }
        let list = try await api.call("GET /v1/concerts", .GET, "/v1/concerts")
        guard let first = (list["concerts"] as? [[String: Any]])?.first, let id = (first["id"] as? NSNumber)?.int64Value else {
            throw FixtureError("no concert to book; pass --admin-key")
        }
        return id
    }

    /// The admission rate while there was a line: activations per second, over the whole seconds in
    /// which some token of the crowd was waiting from before the second began until after it ended
    /// (outside those, admission can only be as fast as people arrive). Returns (seconds, rate).
    static func admission(_ db: Fixtures, users: [Int64]) async throws -> (Int, Double) {
        guard !users.isEmpty else { return (0, 0) }
        let list = users.map(String.init).joined(separator: ",")
        for try await (seconds, rate) in try await db.client.query(PostgresQuery(unsafeSQL: """
            WITH t AS (SELECT created_at, activated_at FROM queue_tokens WHERE activated_at IS NOT NULL AND user_id IN (\(list))),
            s AS (SELECT generate_series(date_trunc('second', min(activated_at)), max(activated_at), interval '1 second') AS sec FROM t),
            backlog AS (
                SELECT s.sec, (SELECT count(*) FROM t WHERE t.activated_at >= s.sec AND t.activated_at < s.sec + interval '1 second') AS n
                FROM s
                WHERE EXISTS (SELECT 1 FROM t WHERE t.created_at < s.sec AND t.activated_at >= s.sec + interval '1 second')
            )
            SELECT count(*)::int, coalesce(avg(n), 0)::float8 FROM backlog
            """)).decode((Int, Double).self) { return (seconds, rate) }
        return (0, 0)
    }
}

/// What one client was told.
struct FanRecord: Codable, Sendable {
    var userId: Int64
    var charged: Int64 = 0
    var paid: [Int64] = []
    var ending = ""
    var replayMismatches: [String] = []
}

/// One fan's journey.
struct Fan {
    let api: API
    let number: Int
    let concertID: Int64
    let replay: Bool
    let board: Board

    func play() async throws -> FanRecord {
        let created = try await api.call("POST /v1/users", .POST, "/v1/users", body: "{\"name\": \"fan \(number)\"}")
        guard created.status == 201, let userID = created.int("userId"), let key = created["apiKey"] as? String else {
            throw FixtureError("POST /v1/users: \(created.outcome)")
        }
        board.joined(userID)
        var record = FanRecord(userId: userID)
        guard let token = try await waitInLine(key: key) else { record.ending = "token expired in line"; return record }
        board.admitted()
        _ = try await api.call("GET /v1/concerts", .GET, "/v1/concerts")
        let dates = try await api.call("GET /v1/concerts/{id}/schedules", .GET, "/v1/concerts/\(concertID)/schedules", key: key, token: token)
        let open = (dates["schedules"] as? [[String: Any]] ?? []).filter { ($0["availableSeats"] as? Int ?? 0) > 0 }
        guard let schedule = open.randomElement(), let scheduleID = (schedule["id"] as? NSNumber)?.int64Value,
              let price = (schedule["price"] as? NSNumber)?.int64Value else {
            record.ending = dates.status == 200 ? "sold out" : "schedules \(dates.outcome)"
            return record
        }
        // Reserve: pick a free seat; when someone beats us to it, look again (three tries).
        var reservationID: Int64?
        for attempt in 0..<3 where reservationID == nil {
            let map = try await api.call("GET /v1/schedules/{id}/seats", .GET, "/v1/schedules/\(scheduleID)/seats", key: key, token: token)
            let free = (map["seats"] as? [[String: Any]] ?? []).filter { $0["status"] as? String == "available" }.compactMap { $0["seatNo"] as? Int }
            guard let seat = free.randomElement() else { break }
            let hold = try await api.call("POST /v1/reservations", .POST, "/v1/reservations", key: key, token: token,
                                          body: "{\"scheduleId\": \(scheduleID), \"seatNo\": \(seat)}", idempotencyKey: "hold-\(attempt)")
            if hold.status == 201 { reservationID = hold.int("reservationId") }
            else if hold.code != "seat_unavailable" { record.ending = "reserve \(hold.outcome)"; return record }
        }
        guard let reservationID else { record.ending = record.ending.isEmpty ? "no seat" : record.ending; return record }
        let chargeBody = "{\"amount\": \(price)}"
        let charge = try await api.call("POST /v1/points/charge", .POST, "/v1/points/charge", key: key, body: chargeBody, idempotencyKey: "charge")
        guard charge.status == 200 else { record.ending = "charge \(charge.outcome)"; return record }
        record.charged += price
        if replay {
            let again = try await api.call("POST /v1/points/charge", .POST, "/v1/points/charge", key: key, body: chargeBody, idempotencyKey: "charge")
            if again.status != 200 || again.int("balance") != charge.int("balance") { record.replayMismatches.append("charge: \(again.outcome)") }
        }
        let payBody = "{\"reservationId\": \(reservationID)}"
        let pay = try await api.call("POST /v1/payments", .POST, "/v1/payments", key: key, token: token, body: payBody, idempotencyKey: "pay")
        guard pay.status == 201 else { record.ending = "pay \(pay.outcome)"; return record }
        record.paid.append(reservationID)
        if replay {
            // The token is done now; a replay is still answered with the first outcome.
            let again = try await api.call("POST /v1/payments", .POST, "/v1/payments", key: key, token: token, body: payBody, idempotencyKey: "pay")
            if again.status != 201 || again.int("paymentId") != pay.int("paymentId") { record.replayMismatches.append("pay: \(again.outcome)") }
        }
        record.ending = "paid"
        return record
    }

    /// Takes a token and polls it, sleeping what `Retry-After` says, until it is active.
    func waitInLine(key: String) async throws -> String? {
        var answer = try await api.call("POST /v1/queue/tokens", .POST, "/v1/queue/tokens", key: key)
        guard let token = answer["token"] as? String else { throw FixtureError("POST /v1/queue/tokens: \(answer.outcome)") }
        while answer["status"] as? String == "waiting" {
            let wait = answer.headers.first(name: "Retry-After").flatMap(Int.init) ?? 1
            try await Task.sleep(for: .seconds(wait))
            answer = try await api.call("GET /v1/queue/tokens/current", .GET, "/v1/queue/tokens/current", key: key, token: token)
            guard answer.status == 200 else { throw FixtureError("poll: \(answer.outcome)") }
        }
        return answer["status"] as? String == "active" ? token : nil
    }
}

/// The crowd's shared tally.
final class Board: Sendable {
    private struct State {
        var records: [FanRecord] = []
        var userIDs: [Int64] = []
        var admitted = 0
        var unanswered: [String] = []
    }
    private let state = Mutex(State())

    func joined(_ id: Int64) { state.withLock { $0.userIDs.append(id) } }
    func admitted() { state.withLock { $0.admitted += 1 } }
    func finished(_ record: FanRecord) { state.withLock { $0.records.append(record) } }
    func unanswered(_ error: String) { state.withLock { $0.unanswered.append(error) } }

    var userIDs: [Int64] { state.withLock { $0.userIDs } }
    var unansweredCount: Int { state.withLock { $0.unanswered.count } }
    var line: String { state.withLock { "· joined \($0.userIDs.count), admitted \($0.admitted), done \($0.records.count)" } }

    var summary: String {
        state.withLock { s in
            let endings = Dictionary(grouping: s.records, by: \.ending).mapValues(\.count).sorted { $0.value > $1.value }
            var lines = ["| journey ended | users |", "|---|---:|"]
            lines += endings.map { "| \($0.key) | \($0.value) |" }
            lines.append("| no answer after retries | \(s.unanswered.count) |")
            let mismatches = s.records.flatMap(\.replayMismatches)
            lines.append("")
            lines.append("Idempotency-Key replays answered differently: \(mismatches.count)")
            if let first = s.unanswered.first { lines.append("first unanswered: \(first)") }
            return lines.joined(separator: "\n")
        }
    }

    func write(to path: String, lostJobs: [String]) throws {
        let records = state.withLock { s in Records(fans: s.records, unanswered: s.unanswered.count, lostJobs: lostJobs) }
        try JSONEncoder().encode(records).write(to: URL(fileURLWithPath: path))
    }
}

/// The records file.
struct Records: Codable {
    let fans: [FanRecord]
    let unanswered: Int
    /// `Location`s of `202`s whose job then read `404`.
    let lostJobs: [String]
}
