import Shared
import Synchronization
import Testing

@testable import Gateway

/// A waiting request takes its job's outcome from `job_done`, and reads the row only when it must.
@Suite("Reply board")
struct ReplyBoardTests {
    /// Counts reads of the job row and answers them with `record`.
    final class Reads: Sendable {
        let count = Mutex(0)
        let record: JobRecord?
        init(_ record: JobRecord? = nil) { self.record = record }
        func read() -> JobRecord? {
            count.withLock { $0 += 1 }
            return record
        }
    }

    static func finished(_ id: Int64, status: Int, body: String) -> JobRecord {
        JobRecord(id: id, kind: JobKind("echo"), state: .succeeded, attempts: 1, userID: nil, requestHash: nil,
                  outcome: JobOutcome(status: status, body: body), lastError: nil)
    }

    @Test("a job_done payload: outcomes, bare ids, and lines that are neither skipped")
    func payloadLines() {
        let notices = JobStore.doneNotices(in: "6 200 {\"name\": \"Zoë 🎫\", \"a b\": 1}\n \n\n7\nx 200 {}\n8 20x {}\n9 409 {\"x\": \"a\\nb\"}")
        #expect(notices.map(\.id) == [6, 7, 8, 9])
        #expect(notices.map(\.outcome) == [
            JobOutcome(status: 200, body: "{\"name\": \"Zoë 🎫\", \"a b\": 1}"), nil, nil,
            JobOutcome(status: 409, body: "{\"x\": \"a\\nb\"}"),
        ])
        #expect(JobStore.doneNotices(in: "").isEmpty)
        #expect(JobStore.doneNotices(in: "   ").isEmpty)
    }

    @Test("an outcome in the notification answers without a read, whether it comes after or before the wait begins")
    func outcomeFromNotification() async throws {
        let board = ReplyBoard()
        let reads = Reads()
        async let outcome = board.awaitFinished(jobID: 7, timeout: .seconds(5)) { reads.read() }
        try await Task.sleep(for: .milliseconds(50))
        board.finished(payload: "6 200 {\"a\": 1}\n7 201 {\"seat\": 3}")
        #expect(try await outcome == JobOutcome(status: 201, body: "{\"seat\": 3}"))
        // The worker beat the enqueue's reply: the notice is kept until the request asks.
        board.finished(payload: "9 409 {\"code\": \"seat_unavailable\"}")
        let early = try await board.awaitFinished(jobID: 9, timeout: .seconds(5)) { reads.read() }
        #expect(early == JobOutcome(status: 409, body: "{\"code\": \"seat_unavailable\"}"))
        #expect(reads.count.withLock { $0 } == 0)
    }

    @Test("a notice without the outcome, and a rescan after a reconnect, make the waiter read the row")
    func readsWhenItMust() async throws {
        let board = ReplyBoard()
        let reads = Reads(Self.finished(8, status: 201, body: "{}"))
        async let outcome = board.awaitFinished(jobID: 8, timeout: .seconds(5)) { reads.read() }
        try await Task.sleep(for: .milliseconds(50))
        board.finished(payload: "8")
        #expect(try await outcome == JobOutcome(status: 201, body: "{}"))
        #expect(reads.count.withLock { $0 } == 1)

        let rescanned = Reads(Self.finished(10, status: 200, body: "{}"))
        async let afterRescan = board.awaitFinished(jobID: 10, timeout: .seconds(5)) { rescanned.read() }
        try await Task.sleep(for: .milliseconds(50))
        board.rescan()
        #expect(try await afterRescan == JobOutcome(status: 200, body: "{}"))
        #expect(rescanned.count.withLock { $0 } == 1)
    }

    @Test("no news by the deadline: one read, then nil (the client gets 202)")
    func timeout() async throws {
        let board = ReplyBoard()
        let reads = Reads()
        let outcome = try await board.awaitFinished(jobID: 11, timeout: .milliseconds(100)) { reads.read() }
        #expect(outcome == nil)
        #expect(reads.count.withLock { $0 } == 1)
    }
}
