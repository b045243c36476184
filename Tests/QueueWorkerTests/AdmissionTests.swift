import Foundation
import Logging
import PostgresNIO
@testable import QueueWorker
import Shared
import Testing
import TestSupport

/// The tick's rules, one call of `stagedoor_admission_tick` at a time, with the time since each
/// room's last tick set by hand.
@Suite("Admission tick")
struct AdmissionTickTests {
    /// Runs one tick as if the last was `after` seconds ago (negative: a clock set back), with the
    /// given defaults; returns what each room admitted.
    static func tick(_ db: PostgresClient, after seconds: Double, tick: Double = 1, rate: Double = 10, maxActive: Int = 1000,
                     activeTTL: Double = 600, idleTTL: Double = 120) async throws -> [Int64: Int] {
        // The leader's two statements: due openings, then the tick. The tick in one transaction with
        // the setting back of the last tick, so its now() is the one that is set back from.
        try await db.query("SELECT * FROM stagedoor_open_rooms(NULL)")
        return try await db.withConnection { connection in
            try await connection.query("BEGIN", logger: Self.logger)
            try await connection.query("UPDATE rooms SET last_tick_at = now() - make_interval(secs => \(seconds))", logger: Self.logger)
            var admitted: [Int64: Int] = [:]
            for try await (room, count) in try await connection.query("""
                SELECT room_id, admitted FROM stagedoor_admission_tick(\(tick), \(rate), \(maxActive)::int, \(activeTTL), \(idleTTL))
                """, logger: Self.logger).decode((Int64, Int).self) {
                admitted[room] = count
            }
            try await connection.query("COMMIT", logger: Self.logger)
            return admitted
        }
    }

    static let logger = Logger(label: "test.tick")

    /// A room of its own (no concerts), `scheduled` when `opensIn` is given.
    static func room(_ db: PostgresClient, rate: Double? = nil, maxActive: Int? = nil, opensIn: Double? = nil) async throws -> Int64 {
        try #require(try await db.scalar("""
            INSERT INTO rooms (name, state, opens_at, opened_at, admit_per_second, max_active)
            SELECT 'test', CASE WHEN o.s IS NULL THEN 'open' ELSE 'scheduled' END, now() + make_interval(secs => o.s),
                   CASE WHEN o.s IS NULL THEN now() END, \(rate), \(maxActive)
            FROM (SELECT \(opensIn)::float8 AS s) o
            RETURNING id
            """, as: Int64.self))
    }

    @Test("fractions carry over: 2.5 per second alternates 2 and 3 per 1 s tick")
    func fractionalRate() async throws {
        try await TestDatabase.withDatabase { db, _ in
            try await db.fillWaitingLine(count: 50)
            var admitted: [Int] = []
            for _ in 0..<4 { admitted.append(try await Self.tick(db, after: 1, rate: 2.5)[1] ?? -1) }
            #expect(admitted == [2, 3, 2, 3])
        }
    }

    @Test("never above the cap on active tokens")
    func cap() async throws {
        try await TestDatabase.withDatabase { db, _ in
            try await db.fillWaitingLine(count: 50)
            #expect(try await Self.tick(db, after: 1, rate: 7, maxActive: 10)[1] == 7)
            #expect(try await Self.tick(db, after: 1, rate: 7, maxActive: 10)[1] == 3)
            #expect(try await Self.tick(db, after: 1, rate: 7, maxActive: 10)[1] == 0)
        }
    }

    @Test("a late tick, a stall or a clock set back admits at most ⌈rate × tick⌉")
    func noBurst() async throws {
        try await TestDatabase.withDatabase { db, _ in
            try await db.fillWaitingLine(count: 500)
            #expect(try await Self.tick(db, after: 1, rate: 20)[1] == 20)
            // 1 s late: the catch-up burst once measured (40 at once) is gone.
            #expect(try await Self.tick(db, after: 2, rate: 20)[1] == 20)
            // A 60 s stall, then a 0.2 s tick at 2.5/s: at most ⌈0.5⌉ = 1.
            #expect(try await Self.tick(db, after: 60, rate: 20)[1] == 20)
            #expect(try await Self.tick(db, after: 60, tick: 0.2, rate: 2.5)[1] ?? 0 <= 1)
            // The clock set back an hour: no time counts; the tick admits at most what was owed (≤ one tick).
            #expect(try await Self.tick(db, after: -3600, rate: 20)[1] ?? 99 <= 20)
            #expect(try await Self.tick(db, after: -3600, rate: 20)[1] == 0)
        }
    }

    @Test("each room at its own rate and cap; paused and scheduled rooms admit nobody")
    func perRoom() async throws {
        try await TestDatabase.withDatabase { db, _ in
            let fast = try await Self.room(db, rate: 30)
            let capped = try await Self.room(db, rate: 30, maxActive: 4)
            let paused = try await Self.room(db, rate: 30)
            let later = try await Self.room(db, rate: 30, opensIn: 3600)
            try await db.query("UPDATE rooms SET state = 'paused' WHERE id = \(paused)")
            for room in [1, fast, capped, paused, later] { try await db.fillWaitingLine(count: 100, room: room) }
            let first = try await Self.tick(db, after: 1, rate: 5)
            #expect(first == [1: 5, fast: 30, capped: 4, paused: 0, later: 0])
            let second = try await Self.tick(db, after: 1, rate: 5)
            #expect(second == [1: 5, fast: 30, capped: 0, paused: 0, later: 0])
            // Each room's line in its own order, from place 1.
            for room in [1, fast, capped] {
                let places = try await db.column(
                    "SELECT place FROM queue_tokens WHERE room_id = \(room) AND status = 'active' ORDER BY place", as: Int64.self)
                #expect(places == Array(1...Int64(places.count)))
            }
            // Resumed, the paused room admits from the next tick.
            try await db.query("UPDATE rooms SET state = 'open' WHERE id = \(paused)")
            #expect(try await Self.tick(db, after: 1, rate: 5)[paused] == 30)
        }
    }

    @Test("idle expiry uses each room's idle TTL and never touches the pre-queue; the opening starts its idle time")
    func idleExpiry() async throws {
        try await TestDatabase.withDatabase { db, _ in
            let short = try await Self.room(db)
            try await db.query("UPDATE rooms SET idle_ttl_seconds = 30 WHERE id = \(short)")
            let later = try await Self.room(db, opensIn: 3600)
            for room in [1, short, later] { try await db.fillWaitingLine(count: 10, room: room) }
            try await db.query("UPDATE rooms SET state = 'paused' WHERE id IN (1, \(short))")
            try await db.query("UPDATE queue_tokens SET last_seen_at = now() - interval '60 s'")
            _ = try await Self.tick(db, after: 1)
            let expired = try await db.column(
                "SELECT room_id FROM queue_tokens WHERE status = 'expired' GROUP BY room_id ORDER BY room_id", as: Int64.self)
            #expect(expired == [short], "only the room with a 30 s idle TTL; room 1 has 120 s, the pre-queue none")
            try await db.query("UPDATE rooms SET opens_at = now() WHERE id = \(later)")
            _ = try await Self.tick(db, after: 1)
            #expect(try await db.scalar(
                "SELECT count(*) FROM queue_tokens WHERE room_id = \(later) AND status <> 'expired' AND last_seen_at > now() - interval '5 s'",
                as: Int64.self) == 10)
        }
    }
}

/// The fair start: the opening draws the pre-queue's order in one statement.
@Suite("Fair start")
struct FairStartTests {
    @Test("each arrival is equally likely at each place (chi-square), with no rank correlation to arrival order")
    func uniformDraw() async throws {
        try await TestDatabase.withDatabase { db, _ in
            let rooms = 400, size = 10
            // Many rooms of ten fans each, all scheduled; one opening draws every room at once.
            try await db.query("""
                INSERT INTO rooms (name, state, opens_at)
                SELECT 'draw ' || n, 'scheduled', now() + interval '1 hour' FROM generate_series(1, \(rooms)) n
                """)
            for room in try await db.column("SELECT id FROM rooms WHERE id > 1 ORDER BY id", as: Int64.self) {
                try await db.fillWaitingLine(count: size, room: room)
            }
            // Before the draw, the pre-queue's places are its arrival order.
            #expect(try await db.scalar("""
                SELECT count(*) FROM (SELECT place, row_number() OVER (PARTITION BY room_id ORDER BY seq) AS n
                                      FROM queue_tokens WHERE room_id > 1) t WHERE place = n
                """, as: Int64.self) == Int64(rooms * size))
            try await db.query("UPDATE rooms SET opens_at = now() WHERE id > 1")
            let drawn = try await db.scalar("SELECT sum(drawn)::int8 FROM stagedoor_open_rooms(NULL)", as: Int64.self)
            #expect(drawn == Int64(rooms * size))
            // (arrival index within its room, drawn place), for every token.
            var pairs: [(arrival: Int, place: Int)] = []
            for try await (arrival, place) in try await db.query("""
                SELECT row_number() OVER (PARTITION BY room_id ORDER BY seq)::int, place::int
                FROM queue_tokens WHERE room_id > 1
                """).decode((Int, Int).self) {
                pairs.append((arrival, place))
            }
            #expect(pairs.count == rooms * size)
            // Every room got places 1…10 exactly once (checked by the sums).
            #expect(pairs.map(\.place).reduce(0, +) == rooms * size * (size + 1) / 2)

            let chiSquare = FairStartTests.chiSquare(pairs, size: size)
            // 81 degrees of freedom: mean 81; P(χ² > 140) < 1e-4. The draw of arrival order itself
            // (place = arrival) scores thousands: the test can fail.
            #expect(chiSquare < 140, "chi-square \(chiSquare) over \(rooms) draws of \(size)")
            #expect(FairStartTests.chiSquare(pairs.map { ($0.arrival, $0.arrival) }, size: size) > 1000)

            // Spearman's rank correlation of place with arrival, per room, averaged: under a uniform
            // draw its mean is 0 with a standard deviation of about 0.017 here.
            let rho = FairStartTests.meanSpearman(pairs, size: size)
            #expect(abs(rho) < 0.1, "mean rank correlation \(rho)")
            // Drawing again changes nothing: the rooms are open, their places kept.
            #expect(try await db.scalar("SELECT count(*) FROM stagedoor_open_rooms(NULL)", as: Int64.self) == 0)
        }
    }

    /// χ² of the arrival × place table against the uniform expectation.
    static func chiSquare(_ pairs: [(arrival: Int, place: Int)], size: Int) -> Double {
        var table = Array(repeating: Array(repeating: 0.0, count: size), count: size)
        for pair in pairs { table[pair.arrival - 1][pair.place - 1] += 1 }
        let expected = Double(pairs.count) / Double(size * size)
        return table.joined().reduce(0) { $0 + ($1 - expected) * ($1 - expected) / expected }
    }

    /// The mean over rooms of Spearman's ρ (pairs come in rooms of `size`, ranks 1…size, no ties).
    static func meanSpearman(_ pairs: [(arrival: Int, place: Int)], size: Int) -> Double {
        let n = Double(size)
        var total = 0.0, rooms = 0
        var d2 = 0.0, inRoom = 0
        for pair in pairs {
            d2 += Double((pair.arrival - pair.place) * (pair.arrival - pair.place))
            inRoom += 1
            if inRoom == size {
                total += 1 - 6 * d2 / (n * (n * n - 1))
                rooms += 1
                d2 = 0
                inRoom = 0
            }
        }
        return total / Double(rooms)
    }
}

@Suite("Admission against Postgres")
struct AdmissionTests {
    static func withAdmission<T: Sendable>(
        _ values: [String: String], _ body: @escaping @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        try await TestDatabase.withDatabase { db, url in
            var values = values
            values["DATABASE_URL"] = url.urlString
            let settings = try Settings(values: values)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await AdmissionService(settings: settings, logger: Logger(label: "test.admission")).run()
                    return nil
                }
                group.addTask { try await body(db) }
                defer { group.cancelAll() }
                while let result = try await group.next() { if let value = result { return value } }
                throw TestSetupError("admission ended")
            }
        }
    }

    @Test("first in, first out: tokens activate in line order")
    func fifo() async throws {
        try await Self.withAdmission(["ADMIT_PER_SECOND": "10", "QUEUE_TICK": "0.1"]) { db in
            try await db.fillWaitingLine(count: 12)
            // 1.2 s of ticks; the bound is for a machine busy with the whole suite (and its replica).
            try #require(try await eventually(timeout: .seconds(45)) {
                try await db.scalar("SELECT count(*) FROM queue_tokens WHERE status = 'active'", as: Int64.self) == 12
            })
            var order: [Int64] = []
            for try await place in try await db.query("SELECT place FROM queue_tokens ORDER BY activated_at, place").decode(Int64.self) {
                order.append(place)
            }
            #expect(order == order.sorted())
            // Activation times never decrease along the line.
            var times: [Date] = []
            for try await at in try await db.query("SELECT activated_at FROM queue_tokens ORDER BY place").decode(Date.self) {
                times.append(at)
            }
            #expect(zip(times, times.dropFirst()).allSatisfy { $0 <= $1 })
            #expect(try await db.scalar("SELECT admitted_through = (SELECT max(place) FROM queue_tokens) FROM rooms WHERE id = 1", as: Bool.self) == true)
        }
    }

    @Test("the admitted rate is the configured rate, and no tick admits more than ⌈rate × tick⌉")
    func rate() async throws {
        try await Self.withAdmission(["ADMIT_PER_SECOND": "20", "QUEUE_TICK": "0.2"]) { db in
            try await db.fillWaitingLine(count: 500)
            #expect(try await eventually {
                try await db.scalar("SELECT count(*) FROM queue_tokens WHERE status = 'active'", as: Int64.self) ?? 0 > 0
            })
            try await Task.sleep(for: .seconds(3))
            // A tick's admissions share its transaction's now() as activated_at.
            let largestTick = try #require(try await db.scalar("""
                SELECT max(n) FROM (SELECT count(*) AS n FROM queue_tokens WHERE status = 'active' GROUP BY activated_at) t
                """, as: Int64.self))
            #expect(largestTick <= 4, "a tick admitted \(largestTick) at 20/s with 0.2 s ticks")
            // The rate: what came after the first tick over the time since it (the first tick's batch
            // also holds carry from the empty line). It never passes 20/s. It can fall short only by
            // the time a loaded machine delays ticks past their slot (that time is lost, not caught
            // up in a burst), so each tick after the first must still have admitted its full share.
            let (rate, perTick) = try #require(try await db.query("""
                WITH a AS (SELECT activated_at FROM queue_tokens WHERE status = 'active'),
                     first AS (SELECT min(activated_at) AS t FROM a)
                SELECT count(*) FILTER (WHERE activated_at > first.t)::float8
                         / extract(epoch FROM max(activated_at) - first.t)::float8,
                       count(*) FILTER (WHERE activated_at > first.t)::float8
                         / count(DISTINCT activated_at) FILTER (WHERE activated_at > first.t)::float8
                FROM a, first GROUP BY first.t
                """).decode((Double, Double).self).reduce(into: [(Double, Double)]()) { $0.append($1) }.first)
            #expect(rate < 21, "measured \(rate)/s against 20/s")
            #expect(perTick >= 3.5, "ticks admitted \(perTick) each on average, against 4")
        }
    }

    @Test("never more active tokens than MAX_ACTIVE")
    func cap() async throws {
        try await Self.withAdmission(["ADMIT_PER_SECOND": "1000", "QUEUE_TICK": "0.1", "MAX_ACTIVE": "5"]) { db in
            try await db.fillWaitingLine(count: 30)
            #expect(try await eventually {
                try await db.scalar("SELECT count(*) FROM queue_tokens WHERE status = 'active'", as: Int64.self) == 5
            })
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await db.scalar("SELECT count(*) FROM queue_tokens WHERE status = 'active'", as: Int64.self) == 5)
            // Ending two frees two places, taken by the next two in line.
            try await db.query("UPDATE queue_tokens SET status = 'done', ended_at = now() WHERE place IN (SELECT place FROM queue_tokens WHERE status = 'active' ORDER BY place LIMIT 2)")
            #expect(try await eventually {
                try await db.scalar("SELECT count(*) FROM queue_tokens WHERE status IN ('active', 'done')", as: Int64.self) == 7
            })
            #expect(try await db.scalar("SELECT count(*) FROM queue_tokens WHERE status = 'active'", as: Int64.self) == 5)
        }
    }
}

/// Token issues spanning many rooms from several sessions at once, beside ticks and openings (which
/// lock room rows in id order; issues lock none): no deadlock, and every place handed out once.
@Suite("Rooms under concurrent writers")
struct RoomsConcurrencyTests {
    @Test("four sessions issuing batches over ten rooms in shuffled order, beside ticks and openings: no error, no place twice")
    func noDeadlock() async throws {
        try await TestDatabase.withDatabase(poolSize: 8) { db, _ in
            let users = 2_000
            try await db.query("""
                INSERT INTO rooms (name, state, opens_at)
                SELECT 'r' || n, 'scheduled', now() + make_interval(secs => n * 0.3) FROM generate_series(1, 10) n
                """)
            let rooms = try await db.column("SELECT id FROM rooms ORDER BY id", as: Int64.self)
            try await db.query("""
                INSERT INTO users (name, api_key_hash) SELECT 'u', sha256(('key' || n)::bytea) FROM generate_series(1, \(users)) n
                """)
            // The leader's statements, over and over, until the issues are done.
            let ticker = Task {
                while !Task.isCancelled {
                    do {
                        // Rows are read to the end, so an error after the first (a deadlock) is thrown too.
                        _ = try await db.column("SELECT room_id FROM stagedoor_open_rooms(NULL)", as: Int64.self)
                        _ = try await db.column("SELECT room_id FROM stagedoor_admission_tick(0.05, 200, 100000, 600, 120)", as: Int64.self)
                    } catch where Task.isCancelled {
                        return
                    } catch {
                        print("the leader's statements failed: \(String(reflecting: error))")
                        throw error
                    }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for session in 0..<4 {
                    group.addTask {
                        for batch in 0..<25 {
                            // 20 requests of distinct users, each for a random room.
                            let first = session * 500 + batch * 20 + 1
                            let keys = (first..<first + 20).map { ByteBuffer(bytes: Secrets.sha256("key\($0)")) }
                            let tokens = (0..<20).map { _ in ByteBuffer(bytes: Secrets.randomBytes(32)) }
                            let salts = (0..<20).map { _ in ByteBuffer(bytes: Secrets.randomBytes(16)) }
                            let chosen = (0..<20).map { _ in rooms.randomElement()! }
                            let answer: [[Int64]]
                            do {
                                answer = try await db.column("""
                                    CALL stagedoor_issue_tokens(\(keys)::bytea[], \(tokens)::bytea[], \(salts)::bytea[], \(chosen)::bigint[],
                                                                NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
                                    """, as: [Int64].self)
                            } catch {
                                print("an issue CALL failed: \(String(reflecting: error))")
                                throw error
                            }
                            #expect(answer.first?.count == 20)
                        }
                    }
                }
                try await group.waitForAll()
            }
            ticker.cancel()
            try await ticker.value
            try await db.query("UPDATE rooms SET opens_at = now() WHERE state = 'scheduled'")
            try await db.query("SELECT * FROM stagedoor_open_rooms(NULL)")
            #expect(try await db.scalar("SELECT count(*) FROM queue_tokens", as: Int64.self) == Int64(users))
            #expect(try await db.scalar("SELECT count(*) FROM queue_tokens WHERE place IS NULL", as: Int64.self) == 0)
            #expect(try await db.scalar("SELECT count(*) FROM (SELECT room_id, place FROM queue_tokens GROUP BY 1, 2 HAVING count(*) > 1) d",
                                        as: Int64.self) == 0, "a place handed out twice")
            #expect(try await db.scalar("SELECT bool_and(pg_sequence_last_value(format('room_places_%s', r.id)::regclass) = (SELECT count(*) FROM queue_tokens q WHERE q.room_id = r.id)) FROM rooms r",
                                        as: Bool.self) == true, "every room's places are 1…issued, without holes")
        }
    }
}
