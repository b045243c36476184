import Synchronization
import Shared

/// Pairs requests waiting for a job with the completions this gateway's listener receives on its
/// own reply channel (`job_done_<random>`: each job the gateway enqueues names it, so a gateway hears
/// only its own jobs' outcomes, however many gateways run).
///
/// A notification normally carries the job's outcome, so a waiting request answers without reading
/// the job row. Notifications are still only hints: a request reads the row when woken without an
/// outcome (a large body, a dead job, or after the listener reconnected — every waiter is woken to
/// re-read then) and once more at its deadline. An outcome that arrives before its request starts
/// waiting (the worker beat the enqueue's reply) is kept for a while among the recent ones.
final class ReplyBoard: Sendable {
    private struct State {
        var waiters: [Int64: [ObjectIdentifier: WakeSignal]] = [:]
        /// Notices for jobs someone waits for, not yet taken.
        var delivered: [Int64: JobStore.DoneNotice] = [:]
        /// Notices for jobs nobody waited for yet, oldest first, bounded.
        var recent: [Int64: JobStore.DoneNotice] = [:]
        var recentOrder: [Int64] = []
    }

    private let state = Mutex(State())
    private let recentCapacity: Int
    /// The channel this gateway's jobs are announced on.
    let channel: String

    init(channel: String = JobStore.newReplyChannel(), recentCapacity: Int = 20_000) {
        self.channel = channel
        self.recentCapacity = recentCapacity
    }

    /// Called with each payload on ``channel``.
    func finished(payload: String) {
        let notices = JobStore.doneNotices(in: payload)
        let signals: [WakeSignal] = state.withLock { state in
            var signals: [WakeSignal] = []
            for notice in notices {
                if let waiting = state.waiters[notice.id] {
                    state.delivered[notice.id] = notice
                    signals.append(contentsOf: waiting.values)
                } else {
                    remember(notice, in: &state)
                }
            }
            return signals
        }
        for signal in signals { signal.signal() }
    }

    /// Wakes every waiter to re-read its job (after a reconnect, when notifications may have been lost).
    func rescan() {
        let signals = state.withLock { $0.waiters.values.flatMap { $0.values } }
        for signal in signals { signal.signal() }
    }

    /// The outcome of job `jobID` once it finishes, or nil after `timeout`. `read` reads the job
    /// row; it is called only when a notification did not carry the outcome, and at the deadline.
    func awaitFinished(jobID: Int64, timeout: Duration, read: () async throws -> JobRecord?) async throws -> JobOutcome? {
        let signal = WakeSignal()
        let key = ObjectIdentifier(signal)
        state.withLock { state in
            state.waiters[jobID, default: [:]][key] = signal
            if let early = state.recent.removeValue(forKey: jobID) { state.delivered[jobID] = early }
        }
        defer {
            state.withLock { state in
                state.waiters[jobID]?[key] = nil
                if state.waiters[jobID]?.isEmpty == true {
                    state.waiters[jobID] = nil
                    state.delivered[jobID] = nil
                }
            }
        }
        let deadline = ContinuousClock.now + timeout
        var woken = false
        while true {
            let notice = state.withLock { $0.delivered[jobID] }
            if let outcome = notice?.outcome { return outcome }
            if notice != nil || woken {
                if let record = try await read(), record.state != .queued { return record.outcome }
            }
            let left = deadline - .now
            guard left > .zero else { return nil }  // the row was read just now, after the last wait
            await signal.wait(upTo: left)
            woken = true
        }
    }

    private func remember(_ notice: JobStore.DoneNotice, in state: inout State) {
        if state.recent.updateValue(notice, forKey: notice.id) == nil { state.recentOrder.append(notice.id) }
        if state.recentOrder.count > recentCapacity {
            let drop = state.recentOrder.count - recentCapacity / 2
            for id in state.recentOrder.prefix(drop) { state.recent[id] = nil }
            state.recentOrder.removeFirst(drop)
        }
    }
}
