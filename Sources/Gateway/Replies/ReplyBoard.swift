import Synchronization
import Shared

/// Pairs requests waiting for a job with the `job_done` notifications this gateway's listener receives.
///
/// Notifications are hints: a waiter registers before it reads the job row, re-reads it on every
/// wake-up, and on its deadline; after the listener reconnects, every waiter is woken to re-read.
final class ReplyBoard: Sendable {
    private let waiters = Mutex<[Int64: [ObjectIdentifier: WakeSignal]]>([:])

    init() {}

    /// Called with the ids in a `job_done` payload ("1,2,3").
    func finished(payload: String) {
        let ids = payload.split(separator: ",").compactMap { Int64($0) }
        let signals = waiters.withLock { waiters in ids.flatMap { waiters[$0].map { Array($0.values) } ?? [] } }
        for signal in signals { signal.signal() }
    }

    /// Wakes every waiter to re-read its job (after a reconnect, when notifications may have been lost).
    func rescan() {
        let signals = waiters.withLock { $0.values.flatMap { $0.values } }
        for signal in signals { signal.signal() }
    }

    /// Re-reads the job with `read` until it has finished or `timeout` passes; nil on timeout.
    func awaitFinished(jobID: Int64, timeout: Duration, read: () async throws -> JobRecord?) async throws -> JobRecord? {
        let signal = WakeSignal()
        let key = ObjectIdentifier(signal)
        waiters.withLock { $0[jobID, default: [:]][key] = signal }
        defer {
            waiters.withLock { waiters in
                waiters[jobID]?[key] = nil
                if waiters[jobID]?.isEmpty == true { waiters[jobID] = nil }
            }
        }
        let deadline = ContinuousClock.now + timeout
        while true {
            if let record = try await read(), record.state != .queued { return record }
            let left = deadline - .now
            guard left > .zero else { return nil }
            await signal.wait(upTo: left)
        }
    }
}
