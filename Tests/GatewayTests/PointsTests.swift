import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresNIO
@testable import Gateway
import Shared
import Testing
import TestSupport

@Suite("Points: charges as jobs, replies, idempotency")
struct PointsTests {
    @Test("a charge runs as a job and answers in one round trip; balance and history agree")
    func charge() async throws {
        // One round trip however loaded the machine running the suite is (the default is 5 s).
        try await TestGateway.run(["REPLY_TIMEOUT": "60"], paymentWorker: true) { api, db in
            let user = try await api.newUser()
            let reply = try await api.call(.post, "/v1/points/charge", key: user.key, body: #"{"amount": 50000}"#)
            #expect(reply.status == 200)
            #expect(reply["balance"] as? Int == 50000)
            #expect(reply["userId"] as? Int == Int(user.id))
            let points = try await api.call(.get, "/v1/points", key: user.key)
            #expect(points["balance"] as? Int == 50000)
            #expect(try await db.scalar("SELECT count(*) FROM point_history WHERE kind = 'charge' AND amount = 50000", as: Int64.self) == 1)
        }
    }

    @Test("500 concurrent charges: exact balance and 500 history rows")
    func concurrentCharges() async throws {
        try await TestGateway.run(["REPLY_TIMEOUT": "30"], paymentWorker: true) { api, db in
            let user = try await api.newUser()
            // Each charge as a client makes it: the answer, or — past REPLY_TIMEOUT, which a loaded
            // machine can reach with 500 charges queued on one wallet row — its job followed to the end.
            let statuses = try await withThrowingTaskGroup(of: Int?.self) { group in
                for n in 1...500 {
                    group.addTask {
                        let reply = try await api.call(.post, "/v1/points/charge", key: user.key, body: "{\"amount\": \(n)}")
                        guard reply.status == 202, let job = reply.headers[.location] else { return reply.status }
                        var outcome: Int?
                        _ = try await eventually(timeout: .seconds(120), every: .milliseconds(100)) {
                            let polled = try await api.call(.get, job, key: user.key)
                            outcome = (polled["response"] as? [String: Any])?["status"] as? Int
                            return polled["status"] as? String == "succeeded"
                        }
                        return outcome
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == 200 }, "\(Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count))")
            #expect(try await db.scalar("SELECT balance FROM wallets WHERE user_id = \(user.id)", as: Int64.self) == 125_250)
            #expect(try await db.scalar("SELECT count(*) FROM point_history WHERE user_id = \(user.id)", as: Int64.self) == 500)
            #expect(try await db.scalar("SELECT sum(amount)::bigint FROM point_history WHERE user_id = \(user.id)", as: Int64.self) == 125_250)
        }
    }

    @Test("Idempotency-Key: same body → first outcome, one effect; other body → 409; a bad key → 400")
    func idempotency() async throws {
        try await TestGateway.run(paymentWorker: true) { api, db in
            let user = try await api.newUser()
            let key: HTTPFields = [.idempotencyKey: "charge-1"]
            let first = try await api.call(.post, "/v1/points/charge", key: user.key, body: #"{"amount": 700}"#, headers: key)
            #expect(first.status == 200)
            let again = try await api.call(.post, "/v1/points/charge", key: user.key, body: "{ \"amount\" :700 }", headers: key)
            #expect(again.status == 200)
            #expect(again["balance"] as? Int == 700)
            let other = try await api.call(.post, "/v1/points/charge", key: user.key, body: #"{"amount": 800}"#, headers: key)
            ErrorPathTests.expectProblem(other, 409, "idempotency_conflict")
            // A job stored by a release before RequestDigest carries JSONSerialization's digest (which
            // writes "/" as "\/", so it differs from today's for this body): its replay is still one.
            let earlierBody = #"{"amount": 700, "note": "a/b"}"#
            let earlier = ByteBuffer(bytes: RequestDigest.foundationDigest(ByteBuffer(string: earlierBody)))
            #expect(Array(earlier.readableBytesView) != RequestDigest(body: ByteBuffer(string: earlierBody)).value)
            try await db.query("UPDATE jobs SET request_hash = \(earlier) WHERE idempotency_key = 'charge-1'")
            let acrossUpgrade = try await api.call(.post, "/v1/points/charge", key: user.key, body: #"{"note":"a\/b","amount":700}"#, headers: key)
            #expect(acrossUpgrade.status == 200 && acrossUpgrade["balance"] as? Int == 700)
            ErrorPathTests.expectProblem(try await api.call(.post, "/v1/points/charge", key: user.key, body: #"{"amount": 800}"#, headers: key),
                                         409, "idempotency_conflict")
            // A body the gateway refuses before any enqueue is still checked against the key first.
            ErrorPathTests.expectProblem(try await api.call(.post, "/v1/points/charge", key: user.key, body: #"{"amount": 0}"#, headers: key),
                                         409, "idempotency_conflict")
            ErrorPathTests.expectProblem(try await api.call(.post, "/v1/points/charge", key: user.key, body: #"{"amount": 0}"#,
                                                            headers: [.idempotencyKey: "charge-2"]), 400, "invalid_request")
            ErrorPathTests.expectProblem(
                try await api.call(.post, "/v1/points/charge", key: user.key, body: #"{"amount": 1}"#, headers: [.idempotencyKey: "bad key"]),
                400, "invalid_request")
            #expect(try await db.scalar("SELECT balance FROM wallets WHERE user_id = \(user.id)", as: Int64.self) == 700)
            #expect(try await db.scalar("SELECT count(*) FROM point_history", as: Int64.self) == 1)
            // 20 concurrent retries with one new key: one effect.
            let replies = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        try await api.call(.post, "/v1/points/charge", key: user.key, body: #"{"amount": 5}"#,
                                           headers: [.idempotencyKey: "retry-me"]).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.allSatisfy { $0 == 200 })
            #expect(try await db.scalar("SELECT balance FROM wallets WHERE user_id = \(user.id)", as: Int64.self) == 705)
        }
    }

    @Test("invalid charges are 400 and enqueue nothing; a charge past the top balance is refused by the job")
    func invalidCharges() async throws {
        try await TestGateway.run(paymentWorker: true) { api, db in
            let user = try await api.newUser()
            for body in [#"{"amount": 0}"#, #"{"amount": -1}"#, #"{"amount": 1000000001}"#, #"{"amount": 1.5}"#,
                         #"{"amount": "10"}"#, #"{}"#, #"{"amount": "#] {
                ErrorPathTests.expectProblem(try await api.call(.post, "/v1/points/charge", key: user.key, body: body), 400, "invalid_request")
            }
            #expect(try await db.scalar("SELECT count(*) FROM jobs", as: Int64.self) == 0)
            try await db.query("UPDATE wallets SET balance = 8999999999999999999 WHERE user_id = \(user.id)")
            let over = try await api.call(.post, "/v1/points/charge", key: user.key, body: #"{"amount": 2}"#)
            ErrorPathTests.expectProblem(over, 400, "invalid_request")
            #expect(try await db.scalar("SELECT balance FROM wallets WHERE user_id = \(user.id)", as: Int64.self) == 8_999_999_999_999_999_999)
        }
    }

    @Test("past REPLY_TIMEOUT: 202 with Location; the job is the owner's to read, 404 for anyone else")
    func acceptedThenPolled() async throws {
        try await TestGateway.run(["REPLY_TIMEOUT": "0"]) { api, db in
            let user = try await api.newUser()
            let other = try await api.newUser("eve")
            let accepted = try await api.call(.post, "/v1/points/charge", key: user.key, body: #"{"amount": 10}"#)
            #expect(accepted.status == 202)
            let jobID = try #require(accepted["jobId"] as? Int)
            #expect(accepted.headers[.location] == "/v1/jobs/\(jobID)")
            let queued = try await api.call(.get, "/v1/jobs/\(jobID)", key: user.key)
            #expect(queued["status"] as? String == "queued")
            #expect(queued["response"] is NSNull)
            ErrorPathTests.expectProblem(try await api.call(.get, "/v1/jobs/\(jobID)", key: other.key), 404, "not_found")
            ErrorPathTests.expectProblem(try await api.call(.get, "/v1/jobs/x", key: user.key), 400, "invalid_request")
            // Run it with a worker, then read the outcome.
            let runner = JobRunner(client: db, handlers: [ChargeForTest.handler], batchSize: 10, logger: .init(label: "test"))
            _ = try await runner.runBatch()
            let done = try await api.call(.get, "/v1/jobs/\(jobID)", key: user.key)
            #expect(done["status"] as? String == "succeeded")
            let response = try #require(done["response"] as? [String: Any])
            #expect(response["status"] as? Int == 200)
            #expect((response["body"] as? [String: Any])?["balance"] as? Int == 10)
        }
    }

    @Test("history: newest first, paged with limit and before; bad parameters are 400")
    func history() async throws {
        try await TestGateway.run(paymentWorker: true) { api, _ in
            let user = try await api.newUser()
            for amount in [10, 20, 30] {
                #expect(try await api.call(.post, "/v1/points/charge", key: user.key, body: "{\"amount\": \(amount)}").status == 200)
            }
            let all = try await api.call(.get, "/v1/points/history", key: user.key)
            let entries = try #require(all["entries"] as? [[String: Any]])
            #expect(entries.map { $0["amount"] as? Int } == [30, 20, 10])
            #expect(entries.map { $0["balanceAfter"] as? Int } == [60, 30, 10])
            #expect(entries.allSatisfy { $0["kind"] as? String == "charge" && $0["at"] is String })
            let newest = try #require(entries.first?["id"] as? Int)
            let page = try await api.call(.get, "/v1/points/history?limit=1&before=\(newest)", key: user.key)
            #expect((page["entries"] as? [[String: Any]])?.map { $0["amount"] as? Int } == [20])
            for bad in ["limit=0", "limit=101", "limit=x", "before=0", "before=-3"] {
                ErrorPathTests.expectProblem(try await api.call(.get, "/v1/points/history?\(bad)", key: user.key), 400, "invalid_request")
            }
            ErrorPathTests.expectProblem(try await api.call(.get, "/v1/points/history"), 401, "unauthorized")
        }
    }
}
