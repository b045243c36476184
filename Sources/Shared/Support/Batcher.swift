import Synchronization

/// Runs concurrent single requests as batches: group commit in the application.
///
/// Up to `maxInFlight` batches run at once. A request that arrives while a slot is free runs a
/// batch at once (no added latency when the load is light); requests that arrive while every slot
/// is busy wait and leave together, up to `maxBatch` at a time, when one frees. So under load one
/// round trip and one commit carry many requests, and at rest each goes alone.
///
/// No task of its own: a batch is run by the request at the head of the line (the leader) — in its
/// task, or under a time limit in one it can abandon — which answers the others and hands its slot
/// to the next waiting request. A waiting request that is cancelled stops waiting at once; if its
/// batch is already running, that batch's effect still happens, as with any statement whose answer
/// was not awaited.
///
/// A request may bring a time limit (``submit(_:within:)``). The batch it leads must end by its
/// deadline: at the deadline the batch's requests get ``DeadlineExceeded`` and the slot passes on,
/// while the batch, abandoned, is cancelled (``withAbandonableDeadline``). A request waiting in line
/// needs no timer of its own: the line is in arrival order, so every batch ahead of it is led by a
/// request with an earlier deadline (one limit for all callers) and ends before its own. One whose
/// deadline has passed by the time a batch would take it gets ``DeadlineExceeded`` without running.
public final class Batcher<Input: Sendable, Output: Sendable>: Sendable {
    private enum Turn: Sendable {
        case lead
        case output(Output)
    }

    private struct Waiter: Sendable {
        let id: UInt64
        let input: Input
        let reply: ResumeOnce<Turn>
        /// When this request stops waiting: the instant, and the limit it was given.
        let deadline: (at: ContinuousClock.Instant, limit: Duration)?
    }

    private struct State {
        var waiting: [Waiter] = []
        var inFlight = 0
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())
    private let maxBatch: Int
    private let maxInFlight: Int
    private let run: @Sendable ([Input]) async throws -> [Output]

    /// A batcher calling `run` with up to `maxBatch` inputs, which must return one output per
    /// input, in order; at most `maxInFlight` calls run at once.
    public init(maxBatch: Int, maxInFlight: Int, run: @escaping @Sendable ([Input]) async throws -> [Output]) {
        precondition(maxBatch >= 1 && maxInFlight >= 1)
        self.maxBatch = maxBatch
        self.maxInFlight = maxInFlight
        self.run = run
    }

    /// Runs `input` in a batch and returns its output; with a `limit`, throws ``DeadlineExceeded``
    /// once that much time has passed (see the type's notes for how it is kept without a timer per request).
    public func submit(_ input: Input, within limit: Duration? = nil) async throws -> Output {
        let deadline = limit.map { (at: ContinuousClock.now + $0, limit: $0) }
        let reply = ResumeOnce<Turn>()
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        let turn = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                reply.set(continuation)
                let promoted: Waiter? = state.withLock { state in
                    // Cancelled already (the handler below ran first): never join a batch.
                    guard !reply.isDone else { return nil }
                    state.waiting.append(Waiter(id: id, input: input, reply: reply, deadline: deadline))
                    guard state.inFlight < maxInFlight else { return nil }
                    state.inFlight += 1
                    return state.waiting.removeFirst()
                }
                if let promoted, !promoted.reply.resume(with: .success(.lead)) { handOver() }
            }
        } onCancel: {
            // Resume first, then leave the line: a request that has not joined it yet sees it is
            // done and stays out; one that has is taken out here (unless a batch already runs it).
            reply.resume(with: .failure(CancellationError()))
            state.withLock { state in state.waiting.removeAll { $0.id == id } }
        }
        switch turn {
        case .output(let output):
            return output
        case .lead:
            return try await lead(with: input, deadline: deadline)
        }
    }

    /// Runs a batch of `input` and the requests waiting at the head of the line; answers them. With
    /// a `deadline` (the leader's), the batch ends by it; requests whose own deadline has passed
    /// are answered ``DeadlineExceeded`` instead of joining.
    private func lead(with input: Input, deadline: (at: ContinuousClock.Instant, limit: Duration)?) async throws -> Output {
        let now = ContinuousClock.now
        if let deadline, deadline.at <= now {
            handOver()
            throw DeadlineExceeded(limit: deadline.limit)
        }
        var lapsed: [(reply: ResumeOnce<Turn>, limit: Duration)] = []
        let others: [Waiter] = state.withLock { state in
            var taken: [Waiter] = []
            var count = 0
            while count < state.waiting.count, taken.count < maxBatch - 1 {
                let waiter = state.waiting[count]
                if let due = waiter.deadline, due.at <= now { lapsed.append((waiter.reply, due.limit)) } else { taken.append(waiter) }
                count += 1
            }
            state.waiting.removeFirst(count)
            return taken
        }
        for (reply, limit) in lapsed { reply.resume(with: .failure(DeadlineExceeded(limit: limit))) }
        defer { handOver() }
        do {
            let inputs = [input] + others.map(\.input)
            let outputs: [Output]
            if let deadline {
                outputs = try await withAbandonableDeadline(deadline.at - .now) { [run] in try await run(inputs) }
            } else {
                outputs = try await run(inputs)
            }
            guard outputs.count == others.count + 1 else { throw BatcherError.outputCountMismatch }
            for (waiter, output) in zip(others, outputs.dropFirst()) { waiter.reply.resume(with: .success(.output(output))) }
            return outputs[0]
        } catch {
            for waiter in others { waiter.reply.resume(with: .failure(error)) }
            throw error
        }
    }

    /// Gives a finished batch's slot to the request at the head of the line, or frees it.
    private func handOver() {
        while true {
            let next: Waiter? = state.withLock { state in
                guard !state.waiting.isEmpty else {
                    state.inFlight -= 1
                    return nil
                }
                return state.waiting.removeFirst()
            }
            // A request cancelled at this very moment cannot lead: offer the slot to the next.
            guard let next, !next.reply.resume(with: .success(.lead)) else { return }
        }
    }
}

/// A batcher of lookups by key: `fetch` returns the (key, value) pairs it found for a batch of keys,
/// in any order; each request gets its key's value, or nil when none was found.
public func lookupBatcher<Key: Hashable & Sendable, Value: Sendable>(
    maxBatch: Int, fetch: @escaping @Sendable ([Key]) async throws -> [(Key, Value)]
) -> Batcher<Key, Value?> {
    Batcher(maxBatch: maxBatch, maxInFlight: 1) { keys in
        let found = Dictionary(try await fetch(keys), uniquingKeysWith: { first, _ in first })
        return keys.map { found[$0] }
    }
}

/// A batch function broke the batcher's contract.
public enum BatcherError: Error {
    /// It returned a different number of outputs than it was given inputs.
    case outputCountMismatch
}
