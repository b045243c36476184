import Logging
import NIOCore
import PostgresNIO
import Shared
import Testing
import TestSupport

@Suite("Booking enqueue")
struct BookingJobsTests {
    let logger = Logger(label: "test.booking")

    @Test("a used key gets its job back before the queue gate: a retry answers although the token is done; a new key is refused")
    func replayBeforeGate() async throws {
        try await TestDatabase.withDatabase { client, _ in
            let userID = try #require(try await client.scalar(
                "INSERT INTO users (name, api_key_hash) VALUES ('ada', sha256('k')) RETURNING id", as: Int64.self))
            try await client.query("""
                INSERT INTO queue_tokens (user_id, token_hash, salt, status, activated_at, expires_at)
                VALUES (\(userID), sha256('tok'), '\\x00000000000000000000000000000000'::bytea, 'active', now(), now() + interval '1 hour')
                """)
            let store = BookingJobs(jobs: JobStore(client: client, logger: logger))
            let gate = Secrets.sha256("tok")
            func pay(key: String) -> NewJob {
                NewJob(kind: JobKind("pay"), payload: "{}", userID: userID, idempotencyKey: key, requestHash: Array("body".utf8))
            }
            guard case .created(let id) = try await store.enqueue(pay(key: "pay-1"), gate: gate) else { Issue.record("not created"); return }
            try await client.query("UPDATE queue_tokens SET status = 'done', ended_at = now()")

            let retried = try await store.enqueue(pay(key: "pay-1"), gate: gate)
            guard case .existing(let record) = retried else { Issue.record("the retry was not answered with its job: \(retried)"); return }
            #expect(record.id == id)
            #expect(try await store.enqueue(pay(key: "pay-2"), gate: gate) == .refused(.notActive(status: "done")))
            #expect(try await store.enqueue(pay(key: "pay-3"), gate: Secrets.sha256("unknown")) == .refused(.invalid))
            #expect(try await client.scalar("SELECT count(*) FROM jobs", as: Int64.self) == 1)
        }
    }

    @Test("a job its seat check refuses is stored finished and wakes no worker; a free seat's job is queued")
    func seatCheck() async throws {
        try await TestDatabase.withDatabase { client, url in
            let userID = try #require(try await client.scalar(
                "INSERT INTO users (name, api_key_hash) VALUES ('ada', sha256('k')) RETURNING id", as: Int64.self))
            let concert = try #require(try await client.scalar("INSERT INTO concerts (title, artist) VALUES ('t', 'a') RETURNING id", as: Int64.self))
            let schedule = try #require(try await client.scalar("""
                INSERT INTO schedules (concert_id, starts_at, price, total_seats) VALUES (\(concert), now() + interval '1 day', 10, 2) RETURNING id
                """, as: Int64.self))
            try await client.query("INSERT INTO seats (schedule_id, seat_no, status) VALUES (\(schedule), 1, 'sold'), (\(schedule), 2, 'available')")
            try await withWakeUps(url, logger: logger) { received in
                let store = BookingJobs(jobs: JobStore(client: client, logger: logger))
                let jobs = JobStore(client: client, logger: logger)
                let refusal = JobOutcome(status: 409, body: #"{"code":"taken"}"#)
                func check(_ seat: Int) -> SeatCheck { SeatCheck(scheduleID: schedule, seatNo: seat, maxHolds: 4, refusal: refusal) }

                let refused = try await store.enqueue(NewJob(kind: JobKind("hold"), payload: "{}", userID: userID), seatCheck: check(1))
                guard case .finished(let id, let outcome) = refused else { Issue.record("not finished: \(refused)"); return }
                #expect(outcome == JobOutcome(status: 409, body: #"{"code": "taken"}"#))
                #expect(try await jobs.find(id: id)?.state == .succeeded)
                try await Task.sleep(for: .milliseconds(200))
                #expect(received.count == 0)

                guard case .created = try await store.enqueue(NewJob(kind: JobKind("hold"), payload: "{}", userID: userID), seatCheck: check(2)) else {
                    Issue.record("a free seat's job was not queued"); return
                }
                #expect(await eventually { received.count == 1 })

                #expect(try await client.scalar("SELECT count(*) FROM jobs WHERE state = 'queued'", as: Int64.self) == 1)
            }
        }
    }
}
