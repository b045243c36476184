import ArgumentParser
import Foundation
import PostgresNIO

/// `stagedoor-load check`: the invariants, over the database and (optionally) a crowd's records.
/// Prints one table and exits 1 when any fails.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Checks Stagedoor's invariants after a run.")

    @Option(help: "The database.") var databaseUrl = ProcessInfo.processInfo.environment["DATABASE_URL"] ?? ""
    @Option(help: "A crowd's records file, to compare what clients were told with the database.") var records: String?
    @Option(help: "Seconds to wait for the job queue to drain before judging stuck jobs.") var drainTimeout = 60

    struct Result: Sendable { let name: String; let failures: Int64; let detail: String }

    func run() async throws {
        let records = try self.records.map { try JSONDecoder().decode(Records.self, from: Data(contentsOf: URL(fileURLWithPath: $0))) }
        let drain = drainTimeout
        let results = try await Fixtures.with(databaseUrl) { db in try await Self.check(db.client, records: records, drainTimeout: drain) }
        print("| invariant | violations | |")
        print("|---|---:|---|")
        for result in results { print("| \(result.name) | \(result.failures) | \(result.failures == 0 ? "ok" : "FAILED " + result.detail) |") }
        if results.contains(where: { $0.failures != 0 }) { throw ExitCode(1) }
    }

    static func count(_ client: PostgresClient, _ sql: String) async throws -> Int64 {
        for try await value in try await client.query(PostgresQuery(unsafeSQL: sql)).decode(Int64.self) { return value }
        return 0
    }

    static func check(_ client: PostgresClient, records: Records?, drainTimeout: Int) async throws -> [Result] {
        // Let the workers finish what is due before judging it stuck.
        let due = "SELECT count(*) FROM jobs WHERE state = 'queued' AND run_at <= now() - interval '5 seconds'"
        let deadline = ContinuousClock.now + .seconds(drainTimeout)
        while try await count(client, due) > 0, ContinuousClock.now < deadline { try await Task.sleep(for: .seconds(1)) }

        var results: [Result] = []
        func expectNone(_ name: String, _ sql: String, detail: String = "") async throws {
            results.append(Result(name: name, failures: try await count(client, sql), detail: detail))
        }
        try await expectNone("no seat sold twice (≤ 1 paid reservation per seat)", """
            SELECT count(*) FROM (SELECT 1 FROM reservations WHERE status = 'paid' GROUP BY schedule_id, seat_no HAVING count(*) > 1) x
            """)
        try await expectNone("no seat held twice (≤ 1 live hold per seat)", """
            SELECT count(*) FROM (SELECT 1 FROM reservations WHERE status = 'held' AND hold_expires_at > now()
                                  GROUP BY schedule_id, seat_no HAVING count(*) > 1) x
            """)
        try await expectNone("sold seats ⇔ paid reservations", """
            SELECT count(*) FROM seats s FULL JOIN (SELECT * FROM reservations WHERE status = 'paid') r
              ON r.schedule_id = s.schedule_id AND r.seat_no = s.seat_no
            WHERE (s.status = 'sold') IS DISTINCT FROM (r.id IS NOT NULL) OR (s.status = 'sold' AND s.reservation_id IS DISTINCT FROM r.id)
            """)
        try await expectNone("every paid reservation has exactly one payment of its price", """
            SELECT count(*) FROM reservations r WHERE r.status = 'paid'
              AND (SELECT count(*) FROM payments p WHERE p.reservation_id = r.id AND p.amount = r.price) <> 1
            """)
        try await expectNone("no payment for an unpaid reservation", """
            SELECT count(*) FROM payments p JOIN reservations r ON r.id = p.reservation_id WHERE r.status <> 'paid'
            """)
        try await expectNone("every balance = its ledger sum", """
            SELECT count(*) FROM wallets w WHERE w.balance <> coalesce((
              SELECT sum(CASE kind WHEN 'payment' THEN -amount ELSE amount END) FROM point_history h WHERE h.user_id = w.user_id), 0)
            """)
        try await expectNone("no job stuck (queued and due for over 5 s)", due)
        try await expectNone("every dead job has its reason", "SELECT count(*) FROM jobs WHERE state = 'dead' AND last_error IS NULL")
        try await expectNone("every finished job has its answer", """
            SELECT count(*) FROM jobs WHERE state <> 'queued' AND (response_status IS NULL OR response_body IS NULL)
            """)
        guard let records else { return results }
        results.append(Result(name: "every client request got an answer", failures: Int64(records.unanswered), detail: ""))
        results.append(Result(name: "every 202's job exists (its Location never read 404)", failures: Int64(records.lostJobs.count),
                              detail: records.lostJobs.prefix(5).joined(separator: " ")))
        results.append(Result(name: "Idempotency-Key replays answered as the first time",
                              failures: Int64(records.fans.reduce(0) { $0 + $1.replayMismatches.count }), detail: ""))
        // What clients were told matches the ledger: a retried request never had a second effect.
        var charged: [Int64: Int64] = [:]
        for try await (user, sum) in try await client.query(
            "SELECT user_id, sum(amount)::bigint FROM point_history WHERE kind = 'charge' GROUP BY user_id").decode((Int64, Int64).self) {
            charged[user] = sum
        }
        let chargeMismatch = records.fans.filter { (charged[$0.userId] ?? 0) != $0.charged }
        results.append(Result(name: "charges in the ledger = charges clients were told of", failures: Int64(chargeMismatch.count),
                              detail: chargeMismatch.first.map { "user \($0.userId): told \($0.charged), ledger \(charged[$0.userId] ?? 0)" } ?? ""))
        let crowd = Set(records.fans.map(\.userId))
        var paidByCrowd: Set<Int64> = []
        for try await (id, user) in try await client.query("SELECT reservation_id, user_id FROM payments").decode((Int64, Int64).self)
        where crowd.contains(user) { paidByCrowd.insert(id) }
        let told = Set(records.fans.flatMap(\.paid))
        results.append(Result(name: "payments in the database = payments clients were told of",
                              failures: Int64(paidByCrowd.symmetricDifference(told).count), detail: "\(paidByCrowd.symmetricDifference(told).prefix(5))"))
        return results
    }
}
