import Synchronization

/// Runs concurrent single requests as batches: group commit in the application.
///
/// Up to `maxInFlight` batches run at once. A request that arrives while a slot is free starts a
/// batch of its own at once (no added latency when the load is light); requests that arrive while
/// every slot is busy wait and leave together, up to `maxBatch` at a time, when one frees. So under
/// load one round trip and one commit carry many requests, and at rest each goes alone.
///
/// A waiting request that is cancelled (its deadline passed) stops waiting; if its batch is already
/// running, that batch's effect still happens, as with any statement whose answer was not awaited.
public final class Batcher<Input: Sendable, Output: Sendable>: Sendable {
    private struct Waiter: Sendable {
        let id: UInt64
        let input: Input
        let reply: ResumeOnce<Output>
    }

    private struct State {
        var waiting: [Waiter] = []
        var inFlight = 0
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())
    private let maxBatch: Int
    private let maxInFlight: Int
    private let deadline: Duration
    private let run: @Sendable ([Input]) async throws -> [Output]

    /// A batcher calling `run` with up to `maxBatch` inputs, which must return one output per input,
    /// in order. A batch that takes longer than `deadline` is given up on and its requests fail.
    public init(
        maxBatch: Int, maxInFlight: Int, deadline: Duration,
        run: @escaping @Sendable ([Input]) async throws -> [Output]
    ) {
        precondition(maxBatch >= 1 && maxInFlight >= 1)
        self.maxBatch = maxBatch
        self.maxInFlight = maxInFlight
        self.deadline = deadline
        self.run = run
    }

    /// Runs `input` in the next batch and returns its output.
    public func submit(_ input: Input) async throws -> Output {
        let reply = ResumeOnce<Output>()
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                reply.set(continuation)
                let batch = state.withLock { state in
                    state.waiting.append(Waiter(id: id, input: input, reply: reply))
                    return takeBatch(&state)
                }
                if let batch { start(batch) }
            }
        } onCancel: {
            state.withLock { state in state.waiting.removeAll { $0.id == id } }
            reply.resume(with: .failure(CancellationError()))
        }
    }

    private func takeBatch(_ state: inout State) -> [Waiter]? {
        guard state.inFlight < maxInFlight, !state.waiting.isEmpty else { return nil }
        state.inFlight += 1
        let count = min(maxBatch, state.waiting.count)
        let batch = Array(state.waiting.prefix(count))
        state.waiting.removeFirst(count)
        return batch
    }

    private func start(_ batch: [Waiter]) {
        Task {
            do {
                let inputs = batch.map(\.input)
                let outputs = try await withAbandonableDeadline(deadline) { try await self.run(inputs) }
                guard outputs.count == batch.count else { throw BatcherError.outputCountMismatch }
                for (waiter, output) in zip(batch, outputs) { waiter.reply.resume(with: .success(output)) }
            } catch {
                for waiter in batch { waiter.reply.resume(with: .failure(error)) }
            }
            let next = state.withLock { state in
                state.inFlight -= 1
                return takeBatch(&state)
            }
            if let next { start(next) }
        }
    }
}

/// A batch function broke the batcher's contract.
public enum BatcherError: Error {
    /// It returned a different number of outputs than it was given inputs.
    case outputCountMismatch
}
