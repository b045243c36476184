import Foundation
import HTTPTypes
import PostgresNIO
@testable import Gateway
import Shared
import Testing
import TestSupport

/// Many users doing random things at once through the real API, with real admission and a real
/// payment worker; afterwards the ledger and the seats are checked against each other and against
/// what the clients were told.
@Suite("Randomized mixed workload: the ledger balances and no seat is held or sold twice")
struct MixedWorkloadTests {
    /// What one simulated client saw.
    struct Record: Sendable {
        var charged: Int64 = 0  // points the client was told were charged (first outcomes only)
        var paid: Set<Int64> = []  // reservations the client was told were paid
        var held: [Int64] = []  // reservations the client was told it holds
        var statuses: [Int] = []
        var unexpected: [String] = []
    }

    /// A seed for the run, printed so a failure can be replayed.
    static let seed = UInt64.random(in: 1...UInt64.max)

    @Test("40 users × 40 random operations on 2 schedules × 8 seats")
    func mixed() async throws {
        print("MixedWorkloadTests seed \(Self.seed)")
        let settings = ["ADMIT_PER_SECOND": "500", "QUEUE_TICK": "0.05", "HOLD_TTL": "1", "REPLY_TIMEOUT": "60", "WORKER_BATCH": "16"]
        try await TestGateway.run(settings, admission: true, paymentWorker: true) { api, db in
            let schedules = [try await BookingTests.schedule(db, seats: 8, price: 700), try await BookingTests.schedule(db, seats: 8, price: 1_100)]
            let records = try await withThrowingTaskGroup(of: (Int64, Record).self) { group in
                for index in 0..<40 {
                    group.addTask {
                        var rng = SplitMix(seed: Self.seed &+ UInt64(index))
                        let user = try await api.newUser("fan\(index)")
                        return (user.id, try await Self.play(api, user: user, schedules: schedules, steps: 40, rng: &rng))
                    }
                }
                return try await group.reduce(into: [Int64: Record]()) { $0[$1.0] = $1.1 }
            }

            // Every answer was one docs/api.md allows for these calls; nothing 5xx, nothing unexpected.
            let all = records.values.flatMap(\.statuses)
            #expect(all.count > 40 * 40 / 2)  // steps with nothing to pay or cancel are skipped
            #expect(all.allSatisfy { [200, 201, 402, 403, 409, 410].contains($0) }, "statuses: \(Dictionary(grouping: all, by: { $0 }).mapValues(\.count))")
            print("MixedWorkloadTests statuses \(Dictionary(grouping: all, by: { $0 }).mapValues(\.count).sorted { $0.key < $1.key })")
            let surprises = records.values.flatMap(\.unexpected)
            #expect(surprises.isEmpty, "\(surprises.prefix(5))")
            // The run did exercise the interesting paths.
            #expect(records.values.contains { !$0.paid.isEmpty })
            #expect(all.contains(409))

            // For every user: balance = Σ history, and Σ charges = what the client was told.
            for try await (user, balance, ledger, charges) in try await db.query("""
                SELECT w.user_id, w.balance,
                       coalesce(sum(CASE h.kind WHEN 'payment' THEN -h.amount ELSE h.amount END), 0)::bigint,
                       coalesce(sum(h.amount) FILTER (WHERE h.kind = 'charge'), 0)::bigint
                FROM wallets w LEFT JOIN point_history h ON h.user_id = w.user_id GROUP BY w.user_id, w.balance
                """).decode((Int64, Int64, Int64, Int64).self) {
                #expect(balance == ledger, "user \(user): balance \(balance), ledger \(ledger)")
                #expect(charges == records[user]?.charged, "user \(user): charged \(charges), told \(records[user]?.charged ?? -1)")
            }

            // Paid reservations are exactly the ones clients were told were paid, each with one payment
            // of its price and one history row.
            var paidInDatabase: Set<Int64> = []
            for try await (id, payments, amount, price) in try await db.query("""
                SELECT r.id, count(p.id), coalesce(sum(p.amount), 0)::bigint, r.price
                FROM reservations r LEFT JOIN payments p ON p.reservation_id = r.id
                WHERE r.status = 'paid' GROUP BY r.id
                """).decode((Int64, Int64, Int64, Int64).self) {
                paidInDatabase.insert(id)
                #expect(payments == 1 && amount == price, "reservation \(id): \(payments) payments of \(amount), price \(price)")
            }
            #expect(paidInDatabase == records.values.reduce(into: Set<Int64>()) { $0.formUnion($1.paid) })
            #expect(try await db.scalar("SELECT count(*) FROM payments", as: Int64.self) == Int64(paidInDatabase.count))
            #expect(try await db.scalar("SELECT count(*) FROM point_history WHERE kind = 'payment'", as: Int64.self) == Int64(paidInDatabase.count))

            // Per seat: reservations in order never overlap — each one before the next was cancelled
            // or had run out when the next was made — and a paid one is the last, with the seat sold.
            typealias Row = (schedule: Int64, seat: Int, id: Int64, status: String, created: Date, expires: Date)
            var bySeat: [String: [Row]] = [:]
            for try await row in try await db.query("""
                SELECT schedule_id, seat_no, id, status, created_at, hold_expires_at FROM reservations ORDER BY id
                """).decode((Int64, Int, Int64, String, Date, Date).self) {
                bySeat["\(row.0)/\(row.1)", default: []].append(Row(row.0, row.1, row.2, row.3, row.4, row.5))
            }
            for (seat, rows) in bySeat {
                for (earlier, later) in zip(rows, rows.dropFirst()) {
                    // `created_at` is the start of the worker's batch transaction; the seat is decided later
                    // in it (a batch may wait on the seat row while the hold reaper frees it), so a next
                    // hold can carry a creation time up to that wait before the earlier hold's end. Holding
                    // one seat twice at once is refused by the unique index on held reservations per seat.
                    let batchWait = 0.5
                    let gone = earlier.status == "cancelled"
                        || (["held", "expired"].contains(earlier.status) && earlier.expires < later.created.addingTimeInterval(batchWait))
                    #expect(gone, """
                        seat \(seat): reservation \(later.id) made at \(later.created.timeIntervalSince1970) while \(earlier.id) \
                        (\(earlier.status), made \(earlier.created.timeIntervalSince1970), hold until \(earlier.expires.timeIntervalSince1970)) was live
                        """)
                }
                if let paid = rows.firstIndex(where: { $0.status == "paid" }) {
                    #expect(paid == rows.count - 1, "seat \(seat): a reservation after the paid one")
                }
            }
            // Every reservation names a user and a seat that exist (stagedoor_reserve_seats checks this where
            // reservations are made, not with foreign keys).
            #expect(try await db.scalar("""
                SELECT count(*) FROM reservations r
                WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = r.user_id)
                   OR NOT EXISTS (SELECT 1 FROM seats s WHERE s.schedule_id = r.schedule_id AND s.seat_no = r.seat_no)
                """, as: Int64.self) == 0)
            #expect(try await db.scalar("""
                SELECT count(*) FROM seats s LEFT JOIN reservations r ON r.id = s.reservation_id
                WHERE (s.status = 'sold') <> coalesce(r.status = 'paid' AND r.schedule_id = s.schedule_id AND r.seat_no = s.seat_no, false)
                """, as: Int64.self) == 0)
            #expect(try await db.scalar("""
                SELECT count(*) FROM seats s JOIN reservations r ON r.id = s.reservation_id
                WHERE s.status = 'held' AND s.hold_expires_at > now() AND (r.status <> 'held' OR r.hold_expires_at <> s.hold_expires_at)
                """, as: Int64.self) == 0)
            // And the other way (the hold reaper finds lapsed holds by their seats): every held
            // reservation's seat is held and names it, with the same expiry.
            #expect(try await db.scalar("""
                SELECT count(*) FROM reservations r LEFT JOIN seats s ON s.schedule_id = r.schedule_id AND s.seat_no = r.seat_no
                WHERE r.status = 'held' AND (s.status IS DISTINCT FROM 'held' OR s.reservation_id IS DISTINCT FROM r.id
                                             OR s.hold_expires_at IS DISTINCT FROM r.hold_expires_at)
                """, as: Int64.self) == 0)
        }
    }

    /// One client's random session: charges (some retried with their Idempotency-Key), holds,
    /// payments and cancellations, taking a new token whenever the old one is done.
    static func play(_ api: TestAPI, user: (id: Int64, key: String), schedules: [Int64], steps: Int,
                     rng: inout SplitMix) async throws -> Record {
        var record = Record()
        var token = try await activeToken(api, user.key)
        var keyed: [(key: String, body: String, status: Int, balance: Int?)] = []
        func note(_ reply: Reply, _ what: String, allowed: Set<String>) {
            record.statuses.append(reply.status)
            if reply.status >= 400, let code = reply.code, !allowed.contains(code) {
                record.unexpected.append("\(what): \(reply.status) \(code)")
            }
        }
        for step in 0..<steps {
            switch rng.next() % 10 {
            case 0...2:
                let amount = Int64(rng.next() % 3_000 + 1)
                let body = "{\"amount\": \(amount)}"
                if rng.next() % 3 == 0, let earlier = keyed.randomElement(using: &rng) {
                    // A retry: the first outcome again, and no second effect.
                    let reply = try await api.call(.post, "/v1/points/charge", key: user.key, body: earlier.body,
                                                   headers: [.idempotencyKey: earlier.key])
                    note(reply, "charge replay", allowed: [])
                    if reply.status != earlier.status || reply["balance"] as? Int != earlier.balance {
                        record.unexpected.append("replay of \(earlier.key): \(reply.status) \(reply.json)")
                    }
                    continue
                }
                let key = "charge-\(user.id)-\(step)"
                let reply = try await api.call(.post, "/v1/points/charge", key: user.key, body: body, headers: [.idempotencyKey: key])
                note(reply, "charge", allowed: [])
                if reply.status == 200 { record.charged += amount }
                keyed.append((key, body, reply.status, reply["balance"] as? Int))
            case 3...5:
                let schedule = schedules[Int(rng.next() % UInt64(schedules.count))]
                let seat = rng.next() % 8 + 1
                let reply = try await api.call(.post, "/v1/reservations", key: user.key, token: token,
                                               body: "{\"scheduleId\": \(schedule), \"seatNo\": \(seat)}")
                note(reply, "reserve", allowed: ["seat_unavailable", "already_reserved", "queue_token_not_active"])
                if reply.status == 201, let id = reply["reservationId"] as? Int { record.held.append(Int64(id)) }
                if reply.code == "queue_token_not_active" { token = try await activeToken(api, user.key) }
            case 6...8:
                guard let id = record.held.randomElement(using: &rng) else { continue }
                let reply = try await api.call(.post, "/v1/payments", key: user.key, token: token, body: "{\"reservationId\": \(id)}")
                note(reply, "pay", allowed: ["insufficient_points", "hold_expired", "already_paid", "queue_token_not_active"])
                if reply.status == 201 {
                    record.paid.insert(id)
                    token = try await activeToken(api, user.key)  // the paid token is done
                } else if reply.code == "queue_token_not_active" {
                    token = try await activeToken(api, user.key)
                }
            default:
                guard let id = record.held.randomElement(using: &rng) else { continue }
                let reply = try await api.call(.delete, "/v1/reservations/\(id)", key: user.key)
                note(reply, "cancel", allowed: ["already_paid"])
                if reply.status == 200, reply["status"] as? String == "paid" { record.unexpected.append("cancel answered paid") }
            }
        }
        return record
    }

    /// Takes a token and polls it (honouring nothing: admission here is fast) until it is active.
    static func activeToken(_ api: TestAPI, _ key: String) async throws -> String {
        let token = try #require(try await api.token(key)["token"] as? String)
        let active = try await eventually(timeout: .seconds(30)) {
            try await api.call(.get, "/v1/queue/tokens/current", key: key, token: token)["status"] as? String == "active"
        }
        try #require(active, "token never became active")
        return token
    }
}

/// A small seeded generator, so a failing run can be replayed with its printed seed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
