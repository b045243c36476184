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
}

/// Thrown for a claimed job whose kind no handler in this worker knows (e.g. during a rolling upgrade).
public struct UnknownJobKind: Error, CustomStringConvertible {
    public let kind: JobKind
    public var description: String { "no handler for job kind \(kind)" }
}
