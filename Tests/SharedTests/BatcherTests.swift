import Shared
import Synchronization
import Testing
import TestSupport

/// Group commit in the application: concurrent requests leave together, each gets its own answer.
@Suite("Batcher")
struct BatcherTests {
    final class Record: Sendable {
        let state = Mutex((batches: [Int](), inFlight: 0, maxInFlight: 0))
        func begin(_ size: Int) {
            state.withLock { $0.batches.append(size); $0.inFlight += 1; $0.maxInFlight = max($0.maxInFlight, $0.inFlight) }
        }
        func end() { state.withLock { $0.inFlight -= 1 } }
    }

    @Test("200 concurrent requests: each gets its own output, at most maxInFlight batches run, most share a batch")
    func batches() async throws {
        let record = Record()
        let batcher = Batcher<Int, Int>(maxBatch: 50, maxInFlight: 2) { inputs in
            record.begin(inputs.count)
            defer { record.end() }
            try await Task.sleep(for: .milliseconds(20))
            return inputs.map { $0 * 2 }
        }
        let outputs = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for n in 0..<200 { group.addTask { (n, try await batcher.submit(n)) } }
            return try await group.reduce(into: [Int: Int]()) { $0[$1.0] = $1.1 }
        }
        #expect(outputs.count == 200)
        #expect(outputs.allSatisfy { $0.value == $0.key * 2 })
        let (batches, _, maxInFlight) = record.state.withLock { $0 }
        #expect(batches.reduce(0, +) == 200)
        #expect(batches.allSatisfy { $0 <= 50 })
        #expect(maxInFlight <= 2)
        #expect(batches.count < 50)  // one by one would be 200 batches
    }

    @Test("a request alone goes at once; a failing batch fails each of its requests; a cancelled waiter stops waiting")
    func failuresAndCancellation() async throws {
        let gate = Mutex(false)
        let batcher = Batcher<Int, Int>(maxBatch: 10, maxInFlight: 1) { inputs in
            if inputs.contains(-1) { throw CancellationError() }
            while gate.withLock({ !$0 }) && inputs.contains(0) { try await Task.sleep(for: .milliseconds(5)) }
            return inputs
        }
        await #expect(throws: CancellationError.self) { try await batcher.submit(-1) }
        #expect(try await batcher.submit(7) == 7)
        // Occupy the only slot, then give up on a request waiting behind it.
        let blocker = Task { try await batcher.submit(0) }
        try await Task.sleep(for: .milliseconds(50))
        let waiter = Task { try await batcher.submit(5) }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        gate.withLock { $0 = true }
        #expect(try await blocker.value == 0)
        #expect(try await batcher.submit(9) == 9)
    }

    @Test("a request whose task is already cancelled never joins a batch: its input does not run")
    func cancelledBeforeSubmit() async throws {
        let seen = Mutex<[Int]>([])
        let gate = Mutex(false)
        let batcher = Batcher<Int, Int>(maxBatch: 10, maxInFlight: 1) { inputs in
            while inputs.contains(0) && gate.withLock({ !$0 }) { try await Task.sleep(for: .milliseconds(5)) }
            seen.withLock { $0.append(contentsOf: inputs) }
            return inputs
        }
        // The only slot is busy, and a live request waits in line: it will lead the next batch,
        // taking along whatever waits behind it.
        let blocker = Task { try await batcher.submit(0) }
        try await Task.sleep(for: .milliseconds(50))
        let waiting = Task { try await batcher.submit(2) }
        try await Task.sleep(for: .milliseconds(50))
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await batcher.submit(1)
        }
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        gate.withLock { $0 = true }
        #expect(try await blocker.value == 0)
        #expect(try await waiting.value == 2)
        #expect(seen.withLock { $0 } == [0, 2])
    }

    @Test("with a time limit: a batch that outlives its leader's deadline fails each of its requests and frees the slot; a request whose deadline passed in line never runs")
    func deadlines() async throws {
        let seen = Mutex<[Int]>([])
        let parked = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let batcher = Batcher<Int, Int>(maxBatch: 10, maxInFlight: 1) { inputs in
            seen.withLock { $0.append(contentsOf: inputs) }
            // Input 0 hangs, ignoring cancellation, until released: a stuck statement.
            if inputs.contains(0) { await withCheckedContinuation { continuation in parked.withLock { $0 = continuation } } }
            return inputs
        }
        let started = ContinuousClock.now
        let stuck = Task { try await batcher.submit(0, within: .milliseconds(300)) }
        try await Task.sleep(for: .milliseconds(50))
        // Waits in line behind the stuck batch with no timer of its own; its deadline passes there,
        // and it is answered when the stuck batch is abandoned and the slot passes on.
        let late = Task { try await batcher.submit(1, within: .milliseconds(200)) }
        try await Task.sleep(for: .milliseconds(50))
        // Arrives later with time to spare: runs once the stuck batch is abandoned.
        let patient = Task { try await batcher.submit(2, within: .seconds(30)) }
        await #expect(throws: DeadlineExceeded.self) { try await stuck.value }
        await #expect(throws: DeadlineExceeded.self) { try await late.value }
        #expect(try await patient.value == 2)
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(seen.withLock { $0 } == [0, 2])
        // Without a limit nothing changes, and the slot is free again.
        #expect(try await batcher.submit(3) == 3)
        #expect(await eventually { parked.withLock { $0 != nil } })
        parked.withLock { $0 }?.resume()
    }
}
