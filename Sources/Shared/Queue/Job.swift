import Foundation
import Synchronization

/// What a job does, as an opaque name. Extensible: each module declares its own kinds.
public struct JobKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
}

/// A job to enqueue.
public struct NewJob: Sendable {
    public var kind: JobKind
    /// The job's input as a JSON document.
    public var payload: String
    /// The user who asked for it, if any (scopes idempotency keys and `GET /v1/jobs/{id}`).
    public var userID: Int64?
    /// The client's `Idempotency-Key`, unique per user and kind.
    public var idempotencyKey: String?
    /// A digest of the request body, to tell a replay from a conflicting reuse of a key.
    public var requestHash: [UInt8]?
    /// Attempts before a job that keeps throwing is dead.
    public var maxAttempts: Int
    /// The channel its outcome is announced on: the one the waiting gateway listens on. nil: the
    /// shared ``JobStore/doneChannel``.
    public var replyChannel: String?
    public init(kind: JobKind, payload: String, userID: Int64? = nil, idempotencyKey: String? = nil,
                requestHash: [UInt8]? = nil, maxAttempts: Int = 5, replyChannel: String? = nil) {
        self.kind = kind
        self.payload = payload
        self.userID = userID
        self.idempotencyKey = idempotencyKey
        self.requestHash = requestHash
        self.maxAttempts = maxAttempts
        self.replyChannel = replyChannel
    }
}

/// A job claimed by a runner, about to run inside the claiming transaction.
public struct ClaimedJob: Sendable {
    public let id: Int64
    public let kind: JobKind
    /// The job's input as a JSON document.
    public let payload: String
    /// Attempts made before this one.
    public let attempts: Int
    public let maxAttempts: Int
    public let userID: Int64?
    /// The payload once decoded: a handler reads it for the batch's lock order and again to run.
    private let decoded = DecodedPayload()

    /// Decodes the payload as `T` (once: later calls for the same type return the first value).
    public func decodePayload<T: Decodable & Sendable>(_ type: T.Type) throws -> T {
        try decodeWithJSONDecoder(type)
    }

    /// Decodes a payload of integer fields, without `JSONDecoder` when it is plain (``IntegerFields``).
    public func decodePayload<T: IntegerFieldsDecodable & Sendable>(_ type: T.Type) throws -> T {
        if let values = T.integerFields.read(payload), let value = T(integerValues: values) { return value }
        return try decodeWithJSONDecoder(type)
    }

    private func decodeWithJSONDecoder<T: Decodable & Sendable>(_ type: T.Type) throws -> T {
        if let value = decoded.value.withLock({ $0 }) as? T { return value }
        let value = try JSONDecoder().decode(T.self, from: Data(payload.utf8))
        decoded.value.withLock { $0 = value }
        return value
    }
}

/// A claimed job's decoded payload, shared by the copies of its ``ClaimedJob``.
private final class DecodedPayload: Sendable {
    let value = Mutex<(any Sendable)?>(nil)
}

/// What a finished job answers: the HTTP status and JSON body the direct call would have returned.
/// A refusal the job's handler decides on is an outcome with a 4xx status, not an error.
public struct JobOutcome: Sendable, Equatable {
    public var status: Int
    /// A JSON document.
    public var body: String

    public init(status: Int, body: String) {
        self.status = status
        self.body = body
    }
}

/// Where a job is in its life.
public enum JobState: String, Sendable, Equatable {
    /// Waiting to run (or being run right now, inside some worker's open transaction).
    case queued
    /// Ran and stored its outcome (2xx or a 4xx refusal).
    case succeeded
    /// Threw on every attempt; kept for operators with its last error.
    case dead
}

/// A job as stored.
public struct JobRecord: Sendable, Equatable {
    public let id: Int64
    public let kind: JobKind
    public let state: JobState
    public let attempts: Int
    public let userID: Int64?
    public let requestHash: [UInt8]?
    public let outcome: JobOutcome?
    public let lastError: String?

    public init(
        id: Int64, kind: JobKind, state: JobState, attempts: Int, userID: Int64?, requestHash: [UInt8]?,
        outcome: JobOutcome?, lastError: String?
    ) {
        self.id = id
        self.kind = kind
        self.state = state
        self.attempts = attempts
        self.userID = userID
        self.requestHash = requestHash
        self.outcome = outcome
        self.lastError = lastError
    }
}
