import Synchronization

/// Runs concurrent single requests as batches: group commit in the application.
///
/// Up to `maxInFlight` batches run at once. A request that arrives while a slot is free runs a
/// batch at once (no added latency when the load is light); requests that arrive while every slot
/// is busy wait and leave together, up to `maxBatch` at a time, when one frees. So under load one
/// round trip and one commit carry many requests, and at rest each goes alone.
///
/// No task of its own: a batch runs in the task of the request at the head of the line (the
/// leader), which answers the others and hands its slot to the next waiting request. A waiting
/// request that is cancelled (its deadline passed) stops waiting at once; if its batch is already
/// running, that batch's effect still happens, as with any statement whose answer was not awaited.
public final class Batcher<Input: Sendable, Output: Sendable>: Sendable {
    private enum Turn: Sendable {
        case lead
        case output(Output)
    }

    private struct Waiter: Sendable {
        let id: UInt64
        let input: Input
        let reply: ResumeOnce<Turn>
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

    /// Runs `input` in a batch and returns its output.
    public func submit(_ input: Input) async throws -> Output {
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
                    state.waiting.append(Waiter(id: id, input: input, reply: reply))
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
            return try await lead(with: input)
        }
    }

    /// Runs a batch of `input` and the requests waiting at the head of the line; answers them.
    private func lead(with input: Input) async throws -> Output {
        let others: [Waiter] = state.withLock { state in
            let count = min(maxBatch - 1, state.waiting.count)
            defer { state.waiting.removeFirst(count) }
            return Array(state.waiting.prefix(count))
        }
        defer { handOver() }
        do {
            let outputs = try await run([input] + others.map(\.input))
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
