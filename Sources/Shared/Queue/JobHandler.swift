import Logging
import PostgresNIO

/// Runs one kind of job inside the claiming transaction.
///
/// Return an outcome for every answer the client should see — including refusals (4xx).
/// Throw only for the unexpected (a lost connection, a bug): the job's work is rolled back and it
/// is retried later with backoff, and after its last attempt it is dead.
public protocol JobHandler: Sendable {
    /// The kind this handler runs.
    var kind: JobKind { get }
    /// Does the job's work on `connection`, which is inside the claiming transaction.
    func run(_ job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> JobOutcome
    /// Does the work of several jobs of this kind, in the given order, on `connection`; returns one
    /// outcome per job, in the same order. A throw fails them all (the runner then reruns the batch
    /// one job per savepoint). The default runs them one by one; a handler whose jobs can share a
    /// round trip overrides it.
    func run(_ jobs: [ClaimedJob], on connection: PostgresConnection, logger: Logger) async throws -> [JobOutcome]
    /// The first contended row the job locks, as a sortable key; the runner runs a batch in this
    /// order (then by id), so two batches take their locks in the same order and do not deadlock.
    func lockOrder(_ job: ClaimedJob) -> String?
}

extension JobHandler {
    public func lockOrder(_ job: ClaimedJob) -> String? { nil }

    public func run(_ jobs: [ClaimedJob], on connection: PostgresConnection, logger: Logger) async throws -> [JobOutcome] {
        var outcomes: [JobOutcome] = []
        outcomes.reserveCapacity(jobs.count)
        for job in jobs {
            var logger = logger
            logger[metadataKey: "job.id"] = "\(job.id)"
            outcomes.append(try await run(job, on: connection, logger: logger))
        }
        return outcomes
    }
}

/// A fixed-width key for `lockOrder`: numbers compare as strings.
public func lockKey(_ table: String, _ ids: Int64...) -> String {
    ([table] + ids.map { String(repeating: "0", count: max(0, 19 - String($0).count)) + String($0) }).joined(separator: "/")
}

/// Thrown for a claimed job whose kind no handler in this worker knows (e.g. during a rolling upgrade).
public struct UnknownJobKind: Error, CustomStringConvertible {
    public let kind: JobKind
    public var description: String { "no handler for job kind \(kind)" }
}
