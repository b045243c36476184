import Foundation
import Logging
import PostgresNIO
@testable import QueueWorker
import Shared
import Testing
import TestSupport

@Suite("Admission plan")
struct AdmissionPlanTests {
    @Test("fractions carry over: 2.5 per second alternates 2 and 3 per 1 s tick")
    func fractionalRate() {
        var plan = AdmissionPlan(admitPerSecond: 2.5, maxActive: 1000, tick: .seconds(1))
        var now = Duration.seconds(1_800_000_000)
        var admitted: [Int] = []
        for _ in 0..<4 {
            let allowance = plan.allowance(at: now, active: 0)
            plan.admitted(allowance)
            admitted.append(allowance)
            now += .seconds(1)
        }
        #expect(admitted == [2, 3, 2, 3])
    }

    @Test("never above the cap on active tokens")
    func cap() {
        var plan = AdmissionPlan(admitPerSecond: 100, maxActive: 10, tick: .seconds(1))
        #expect(plan.allowance(at: .seconds(100), active: 7) == 3)
        plan.admitted(3)
        #expect(plan.allowance(at: .seconds(101), active: 10) == 0)
    }

    @Test("no burst after a stall or an empty line")
    func noBurst() {
        var plan = AdmissionPlan(admitPerSecond: 10, maxActive: 1000, tick: .seconds(1))
        let start = Duration.seconds(1_800_000_000)
        #expect(plan.allowance(at: start, active: 0) == 10)
        plan.admitted(0)  // the line was empty
        // A 60 s stall counts as at most 2 s; unused allowance is kept up to one tick.
        let after = plan.allowance(at: start + .seconds(60), active: 0)
        #expect(after <= 30)
        plan.admitted(after)
        #expect(after <= 10, "no tick admits more than ⌈rate × tick⌉")
    }

    @Test("a late tick admits at most ⌈rate × tick⌉; the rest of its time carries to the next (sooner) tick, so the rate holds")
    func lateTickNoCatchUp() {
        var plan = AdmissionPlan(admitPerSecond: 20, maxActive: 1000, tick: .seconds(1))
        let start = Duration.seconds(1_800_000_000)
        #expect(plan.allowance(at: start, active: 0) == 20)
        plan.admitted(20)
        // 1 s late (the catch-up burst that was measured: 40 at once).
        let late = plan.allowance(at: start + .seconds(2), active: 0)
        #expect(late == 20)
        plan.admitted(late)
        // The next grid tick, 1 s later, still admits a full tick; over the three ticks the rate is
        // 60 in 3 s, and no tick went above 20.
        #expect(plan.allowance(at: start + .seconds(3), active: 0) == 20)
        // Fractional rates round up per tick: 2.5/s may admit 3 in one tick, never 4.
        var slow = AdmissionPlan(admitPerSecond: 2.5, maxActive: 1000, tick: .seconds(1))
        #expect(slow.perTick == 3)
        _ = slow.allowance(at: start, active: 0)
        slow.admitted(0)
        #expect(slow.allowance(at: start + .seconds(2), active: 0) <= 3)
    }

    @Test("a clock set back costs one tick's admissions, not the time it went back")
    func clockSetBack() {
        var plan = AdmissionPlan(admitPerSecond: 10, maxActive: 1000, tick: .seconds(1))
        let start = Duration.seconds(1_800_000_000)
        #expect(plan.allowance(at: start, active: 0) == 10)
        plan.admitted(10)
        #expect(plan.allowance(at: start - .seconds(3600), active: 0) == 0)
        plan.admitted(0)
        #expect(plan.allowance(at: start - .seconds(3599), active: 0) == 10)
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
            #expect(try await eventually {
                try await db.scalar("SELECT count(*) FROM queue_tokens WHERE status = 'active'", as: Int64.self) == 12
            })
            var order: [Int64] = []
            for try await seq in try await db.query("SELECT seq FROM queue_tokens ORDER BY activated_at, seq").decode(Int64.self) {
                order.append(seq)
            }
            #expect(order == order.sorted())
            // Activation times never decrease along the line.
            var times: [Date] = []
            for try await at in try await db.query("SELECT activated_at FROM queue_tokens ORDER BY seq").decode(Date.self) {
                times.append(at)
            }
            #expect(zip(times, times.dropFirst()).allSatisfy { $0 <= $1 })
            #expect(try await db.scalar("SELECT admitted_through = (SELECT max(seq) FROM queue_tokens) FROM waiting_room", as: Bool.self) == true)
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
            try await db.query("UPDATE queue_tokens SET status = 'done', ended_at = now() WHERE seq IN (SELECT seq FROM queue_tokens WHERE status = 'active' ORDER BY seq LIMIT 2)")
            #expect(try await eventually {
                try await db.scalar("SELECT count(*) FROM queue_tokens WHERE status IN ('active', 'done')", as: Int64.self) == 7
            })
            #expect(try await db.scalar("SELECT count(*) FROM queue_tokens WHERE status = 'active'", as: Int64.self) == 5)
        }
    }
}
