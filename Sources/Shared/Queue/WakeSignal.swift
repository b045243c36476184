import NIOCore
import Synchronization

/// Wakes sleeping claim loops early: a notification arrived, or the listener reconnected.
///
/// A signal with nobody waiting is remembered, so a wake-up that lands while the loops are busy
/// is not lost; at worst it causes one empty claim.
public final class WakeSignal: Sendable {
    private struct Waiter {
        let continuation: CheckedContinuation<Void, Never>
        var timer: CoarseTimer.Handle?
    }

    private struct State {
        var pending = false
        var nextID: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Wakes every waiter, or the next one to wait.
    public func signal() {
        let waiters = state.withLock { state in
            let waiters = state.waiters.values
            state.waiters.removeAll()
            state.pending = waiters.isEmpty
            return Array(waiters)
        }
        for waiter in waiters {
            if let timer = waiter.timer { CoarseTimer.shared.cancel(timer) }
            waiter.continuation.resume()
        }
    }

    /// Returns at the next signal, after `timeout` (within about 10 ms), or when the task is
    /// cancelled. The timeout is an entry in ``CoarseTimer``: a reply's wait costs no task, no
    /// Dispatch timer and no event-loop timer.
    public func wait(upTo timeout: Duration) async {
        let id: UInt64? = state.withLock { state in
            if state.pending {
                state.pending = false
                return nil
            }
            defer { state.nextID += 1 }
            return state.nextID
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiters[id] = Waiter(continuation: continuation)
                    return false
                }
                if resumeNow {
                    continuation.resume()
                    return
                }
                let timer = CoarseTimer.shared.schedule(after: timeout) { [self] in self.release(id) }
                let stillWaiting = state.withLock { state in
                    guard state.waiters[id] != nil else { return false }
                    state.waiters[id]?.timer = timer
                    return true
                }
                if !stillWaiting { CoarseTimer.shared.cancel(timer) }
            }
        } onCancel: {
            release(id)
        }
    }

    /// Someone is parked in ``wait(upTo:)`` and no signal is pending: whoever waits here is idle
    /// until the next signal or timeout (tests use it to know a worker has nothing left to act on).
    public var isIdle: Bool {
        state.withLock { !$0.pending && !$0.waiters.isEmpty }
    }

    /// Resumes one waiter (its timeout, or its task was cancelled), if it is still waiting.
    private func release(_ id: UInt64) {
        guard let waiter = state.withLock({ $0.waiters.removeValue(forKey: id) }) else { return }
        if let timer = waiter.timer { CoarseTimer.shared.cancel(timer) }
        waiter.continuation.resume()
    }
}
