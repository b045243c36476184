import NIOCore
import Synchronization

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
///
/// One child task runs `operation`; the deadline is a ``CoarseTimer`` entry, not a second task (this
/// runs once per request: a sleeping child task cost a task, an event-loop hop to cancel it, and a
/// group cancel on every call). As before, the work is cancelled at the deadline and this returns
/// once it has stopped.
@discardableResult
public func withDeadline<T: Sendable>(
    _ limit: Duration,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let outcome = ResumeOnce<T>()
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            do { outcome.resume(with: .success(try await operation())) } catch { outcome.resume(with: .failure(error)) }
        }
        let timer = CoarseTimer.shared.schedule(after: limit) { outcome.resume(with: .failure(DeadlineExceeded(limit: limit))) }
        defer {
            CoarseTimer.shared.cancel(timer)
            group.cancelAll()
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in outcome.set(continuation) }
        } onCancel: {
            outcome.resume(with: .failure(CancellationError()))
        }
    }
}

/// What a caller's cancellation does to work under ``withAbandonableDeadline(_:onCancel:atDeadline:_:)``.
public enum CancellationOfAbandonableWork: Sendable {
    /// The caller stops waiting at once (``CancellationError``); the work is left to finish alone.
    case abandons
    /// The work is cancelled, and the caller keeps waiting for it (up to the deadline), as a child task's would.
    case passesOn
}

/// Runs `operation` in a task of its own and stops waiting for it after `limit`: the task is
/// cancelled and abandoned, `atDeadline` runs, and ``DeadlineExceeded`` is thrown.
///
/// The one place Stagedoor leaves structured concurrency, on purpose: PostgresNIO (1.33) can leave
/// a query waiting forever on a session the server terminated, ignoring cancellation and a close of
/// the connection (seen in the kill-mid-batch test). A claim loop must outlive that, so it gives up
/// on the stuck batch — whose transaction the server has already rolled back — and claims anew.
public func withAbandonableDeadline<T: Sendable>(
    _ limit: Duration,
    onCancel cancellation: CancellationOfAbandonableWork = .abandons,
    atDeadline: @escaping @Sendable () -> Void = {},
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let outcome = ResumeOnce<T>()
    let work = Task {
        do { outcome.resume(with: .success(try await operation())) } catch { outcome.resume(with: .failure(error)) }
    }
    let timer = CoarseTimer.shared.schedule(after: limit) {
        guard outcome.resume(with: .failure(DeadlineExceeded(limit: limit))) else { return }
        work.cancel()
        atDeadline()
    }
    defer { CoarseTimer.shared.cancel(timer) }
    return try await withTaskCancellationHandler {
        try await outcome.value()
    } onCancel: {
        switch cancellation {
        case .abandons: outcome.resume(with: .failure(CancellationError()))
        case .passesOn: work.cancel()
        }
    }
}

/// Resumes a continuation exactly once, whoever comes first.
final class ResumeOnce<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var early: Result<T, any Error>?
        var done = false
    }

    private let state = Mutex(State())

    func set(_ continuation: CheckedContinuation<T, any Error>) {
        let early: Result<T, any Error>? = state.withLock { state in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    /// Waits for the result (once: a single waiter).
    func value() async throws -> T {
        try await withCheckedThrowingContinuation { set($0) }
    }

    /// Whether the continuation has been resumed (or a result is waiting for it).
    var isDone: Bool {
        state.withLock { $0.done }
    }

    /// Resumes with `result` if nobody has; returns whether this call did.
    @discardableResult
    func resume(with result: Result<T, any Error>) -> Bool {
        let (continuation, first): (CheckedContinuation<T, any Error>?, Bool) = state.withLock { state in
            guard !state.done else { return (nil, false) }
            state.done = true
            if state.continuation == nil { state.early = result }
            let continuation = state.continuation
            state.continuation = nil
            return (continuation, true)
        }
        continuation?.resume(with: result)
        return first
    }
}
