/// Thrown when work did not finish within its deadline.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    /// How long the work was given.
    public let limit: Duration
    public var description: String { "did not finish within \(limit)" }
}

/// Runs `operation`, cancelling it and throwing ``DeadlineExceeded`` when it takes longer than `limit`.
///
/// PostgresNIO waits for a connection indefinitely while the database is down (STACK-NOTES.md);
/// every request path wraps its database work in this so clients get `503`, not a hang.
@discardableResult
public func withDeadline<T: Sendable>(
    _ limit: Duration,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw DeadlineExceeded(limit: limit)
        }
        return value
    }
}
