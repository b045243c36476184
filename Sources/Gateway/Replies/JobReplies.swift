import Foundation
import HTTPTypes
import Hummingbird
import Shared

/// Turns a write into a job and the job's outcome into the HTTP answer: the final answer when the
/// job finishes within `REPLY_TIMEOUT`, else `202` with the job's location.
struct JobReplies: Sendable {
    let jobs: JobStore
    let booking: BookingJobs
    let board: ReplyBoard
    let database: GatewayDatabase
    let replyTimeout: Duration
    let maxAttempts: Int

    /// Validates an `Idempotency-Key` header: 1–255 visible ASCII characters.
    static func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[.idempotencyKey] else { return nil }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw Problem.invalidRequest("'Idempotency-Key' must be 1 to 255 visible ASCII characters.")
        }
        return key
    }

    /// A write request read up to its validation: its key, body and digest.
    struct Write: Sendable {
        let userID: Int64
        let kind: JobKind
        let key: String?
        let body: ByteBuffer
        let hash: RequestDigest
    }

    /// Reads an idempotent write: its key (checked) and its body.
    ///
    /// docs/api.md answers a replay of an earlier request with the same key (or `409`) before the body
    /// and the queue token are checked. The enqueue does that itself (`stagedoor_insert_jobs`): it returns the job
    /// that already has the key before it looks at the gate, so a write needs no lookup of its own
    /// — except one refused before its enqueue, which must go through ``replay(of:orThrow:)``.
    func begin(_ request: Request, userID: Int64, kind: JobKind) async throws -> Write {
        let key = try Self.idempotencyKey(request)
        let body = try await JSONBody.collect(request)
        // The digest matters only beside a key (it tells a replay from a conflict); without one it is not stored.
        return Write(userID: userID, kind: kind, key: key, body: body, hash: key == nil ? .absent : RequestDigest(body: body))
    }

    /// The answer to a write refused before its enqueue (a bad body, no queue token): the replay
    /// of an earlier request with its key if there was one (`409` if that body differed), else `refusal`.
    func replay(of write: Write, orThrow refusal: any Error) async throws -> Response {
        guard let key = write.key,
              let existing = try await database.run({ _ in try await jobs.find(userID: write.userID, kind: write.kind, idempotencyKey: key) })
        else { throw refusal }
        return try await answer(for: existing, hash: write.hash)
    }

    /// Enqueues `write` as a job with `payload` (behind the queue gate of the token with secret hash
    /// `gate`, if given; with the enqueue's `seatCheck`, if given) and answers with its outcome (or
    /// 202), or the gate's problem.
    func run(_ write: Write, payload: some Encodable, gate: [UInt8]? = nil, room: RoomTarget? = nil, seatCheck: SeatCheck? = nil)
        async throws -> Response {
        try await run(kind: write.kind, payload: payload, userID: write.userID, key: write.key, hash: write.hash, gate: gate,
                      room: room, seatCheck: seatCheck)
    }

    /// Enqueues the job and answers with its outcome (or 202); with a `gate`, only if the queue token
    /// with that secret hash is the user's and active (`401`/`403` otherwise, nothing enqueued) and of
    /// the room gating the `room` target's concert (`403 queue_token_wrong_room`); with a `seatCheck`
    /// that finds the seat taken, with its refusal at once (the job stored finished).
    func run(kind: JobKind, payload: some Encodable, userID: Int64, key: String?, hash: RequestDigest, gate: [UInt8]? = nil,
             room: RoomTarget? = nil, seatCheck: SeatCheck? = nil) async throws -> Response {
        let json = if let plain = payload as? any IntegerFieldsEncodable {
            plain.integerFieldsJSON
        } else {
            String(decoding: try JSONBody.encoder.encode(payload), as: UTF8.self)
        }
        let job = NewJob(kind: kind, payload: json, userID: userID, idempotencyKey: key, requestHash: hash.value, maxAttempts: maxAttempts,
                         replyChannel: board.channel)
        let started = ContinuousClock.now
        let enqueued = try await database.batched { try await booking.enqueue(job, gate: gate, room: room, seatCheck: seatCheck, within: $0) }
        let created = ContinuousClock.now
        JobMetrics.enqueue(kind: kind).record(duration: created - started)
        switch enqueued {
        case .created(let id):
            defer { JobMetrics.replyWait(kind: kind).record(duration: .now - created) }
            return try await wait(for: id)
        case .finished(_, let outcome):
            JobMetrics.refusedAtEnqueue(kind: kind, status: outcome.status).increment()
            return Self.response(outcome)
        case .existing(let record):
            return try await answer(for: record, hash: hash)
        case .refused(.invalid):
            throw Problem.queueTokenInvalid
        case .refused(.notActive(let status)):
            throw Problem.queueTokenNotActive(status)
        case .refused(.wrongRoom(let roomID)):
            throw Problem.queueTokenWrongRoom(roomID)
        }
    }

    private func answer(for record: JobRecord, hash: RequestDigest) async throws -> Response {
        guard hash.matches(record.requestHash) else {
            throw Problem(status: .conflict, code: "idempotency_conflict", title: "Idempotency conflict",
                          detail: "This Idempotency-Key was used with a different request body.")
        }
        if let outcome = record.outcome { return Self.response(outcome) }
        return try await wait(for: record.id)
    }

    private func wait(for id: Int64) async throws -> Response {
        let outcome = try await board.awaitFinished(jobID: id, timeout: replyTimeout) {
            try await database.run { _ in try await jobs.find(id: id) }
        }
        if let outcome { return Self.response(outcome) }
        let accepted = try JSONBody.response(JobAccepted(jobId: id, status: "queued"), status: .accepted,
                                             headers: [.location: "/v1/jobs/\(id)"])
        return accepted
    }

    struct JobAccepted: Encodable { let jobId: Int64; let status: String }

    /// A stored outcome as the HTTP answer it stands for.
    static func response(_ outcome: JobOutcome) -> Response {
        var response = JSONBody.response(json: outcome.body, status: .init(code: outcome.status),
                                         contentType: outcome.status >= 400 ? "application/problem+json" : "application/json")
        if outcome.status == 503 { response.headers[.retryAfter] = "1" }
        return response
    }
}

extension HTTPField.Name {
    /// `Idempotency-Key`.
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}
