import Logging
import PostgresNIO
import Shared
import Synchronization
import Testing
import TestSupport

@Suite("Wake signals and deadlines on event-loop timers")
struct TimerTests {
    @Test("a wait ends at its timeout, at a signal, or when its task is cancelled; a signal with no waiter is kept for the next")
    func wakeSignal() async throws {
        let signal = WakeSignal()
        var started = ContinuousClock.now
        await signal.wait(upTo: .milliseconds(100))
        #expect(ContinuousClock.now - started >= .milliseconds(100))

        started = ContinuousClock.now
        async let waited: Void = signal.wait(upTo: .seconds(30))
        try await Task.sleep(for: .milliseconds(50))
        signal.signal()
        await waited
        #expect(ContinuousClock.now - started < .seconds(10))

        signal.signal()
        started = ContinuousClock.now
        await signal.wait(upTo: .seconds(30))
        #expect(ContinuousClock.now - started < .seconds(1))

        started = ContinuousClock.now
        let task = Task { await signal.wait(upTo: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        await task.value
        #expect(ContinuousClock.now - started < .seconds(10))

        // 1,000 waiters all woken by one signal.
        let woken = Counter()
        await withDiscardingTaskGroup { group in
            for _ in 0..<1000 { group.addTask { await signal.wait(upTo: .seconds(30)); woken.increment() } }
            try? await Task.sleep(for: .milliseconds(200))
            signal.signal()
        }
        #expect(woken.count == 1000)
    }

    @Test("withDeadline returns a fast result, and cancels slow work with DeadlineExceeded at its limit")
    func deadline() async throws {
        #expect(try await withDeadline(.seconds(5)) { 42 } == 42)
        let cancelled = Counter()
        let started = ContinuousClock.now
        await #expect(throws: DeadlineExceeded.self) {
            try await withDeadline(.milliseconds(100)) {
                do { try await Task.sleep(for: .seconds(30)) } catch { cancelled.increment(); throw error }
            }
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(cancelled.count == 1)
    }
}

@Suite("Coarse timers")
struct CoarseTimerTests {
    @Test("an action runs once, at or after its time and within a few ticks; a cancelled one never runs; the table empties")
    func runsAndCancels() async throws {
        let timers = CoarseTimer(tick: .milliseconds(10))
        let ran = Mutex<[Int: ContinuousClock.Instant]>([:])
        let started = ContinuousClock.now
        // Scheduled out of order, and the later sweep is pulled in by the earlier entry.
        timers.schedule(after: .milliseconds(300)) { ran.withLock { $0[3] = .now } }
        timers.schedule(after: .milliseconds(100)) { ran.withLock { $0[1] = .now } }
        let cancelled = timers.schedule(after: .milliseconds(150)) { ran.withLock { $0[2] = .now } }
        timers.cancel(cancelled)
        #expect(await eventually(timeout: .seconds(10)) { ran.withLock { $0.count } == 2 })
        let times = ran.withLock { $0 }
        #expect(times[2] == nil)
        #expect(try #require(times[1]) - started >= .milliseconds(100))
        #expect(try #require(times[3]) - started >= .milliseconds(300))
        #expect(try #require(times[1]) < (try #require(times[3])))
        #expect(timers.pendingCount == 0)
        // 1,000 waits at once: each runs once.
        let count = Counter()
        for n in 0..<1000 { timers.schedule(after: .milliseconds(20 + n % 50)) { count.increment() } }
        #expect(await eventually(timeout: .seconds(10)) { count.count == 1000 })
        try await Task.sleep(for: .milliseconds(100))
        #expect(count.count == 1000)
        #expect(timers.pendingCount == 0)
    }
}

@Suite("A connection closed at its limit")
struct ClosingTests {
    @Test("work still running at the limit has its connection closed and throws DeadlineExceeded; quick work is untouched")
    func closesAtLimit() async throws {
        try await TestDatabase.withDatabase { client, _ in
            try await client.withConnection { connection in
                let quick = try await connection.closing(after: .seconds(5)) { 7 }
                #expect(quick == 7)
                #expect(!connection.isClosed)
                let started = ContinuousClock.now
                await #expect(throws: DeadlineExceeded.self) {
                    try await connection.closing(after: .milliseconds(200)) {
                        try await connection.query("SELECT pg_sleep(30)", logger: Logger(label: "test.closing"))
                    }
                }
                #expect(ContinuousClock.now - started < .seconds(10))
                #expect(await eventually { connection.isClosed })
            }
        }
    }

    @Test("work that ignores cancellation and the close (as a PostgresNIO query on a dropped session can) is left behind at the limit")
    func abandonsStuckWork() async throws {
        try await TestDatabase.withDatabase { client, _ in
            try await client.withConnection { connection in
                let started = ContinuousClock.now
                await #expect(throws: DeadlineExceeded.self) {
                    try await connection.closing(after: .milliseconds(200)) {
                        // Ends after 20 s whatever happens to its task or the connection.
                        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                            Task.detached { try? await Task.sleep(for: .seconds(20)); done.resume() }
                        }
                    }
                }
                #expect(ContinuousClock.now - started < .seconds(5))
                #expect(await eventually { connection.isClosed })
            }
        }
    }
}
