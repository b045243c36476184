import Logging
import ServiceLifecycle
import Synchronization

/// Sends at most one `jobs` wake-up per window from this process.
///
/// NOTIFY takes a global lock at commit, so at high enqueue rates one per job costs throughput.
/// The first enqueue in a window notifies inline (same statement, same commit). Later ones in the
/// window skip it and, once committed, ask for a trailing wake-up, which this service sends when
/// the window ends — so no job waits for the backstop poll because its hint was coalesced away.
public final class NotifyCoalescer: Service, Sendable {
    private struct State {
        var lastInline: ContinuousClock.Instant?
        var trailingWanted = false
    }

    private let window: Duration
    private let state = Mutex(State())
    private let wake = WakeSignal()
    private let send: @Sendable () async throws -> Void
    private let logger: Logger

    /// A coalescer with the given window; `send` issues one wake-up (e.g. ``JobStore/notifyWorkers()``).
    public init(window: Duration, logger: Logger, send: @escaping @Sendable () async throws -> Void) {
        self.window = window
        self.logger = logger
        self.send = send
    }

    /// Whether the caller's enqueue should carry the wake-up itself.
    func claimInlineNotify() -> Bool {
        guard window > .zero else { return true }
        let now = ContinuousClock.now
        return state.withLock { state in
            if let last = state.lastInline, now - last < window { return false }
            state.lastInline = now
            return true
        }
    }

    /// Called after a committed enqueue that skipped its wake-up.
    func noteSkippedNotify() {
        state.withLock { $0.trailingWanted = true }
        wake.signal()
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.wake.wait(upTo: .seconds(3600))
                let due: ContinuousClock.Instant? = self.state.withLock { state in
                    guard state.trailingWanted else { return nil }
                    return (state.lastInline ?? .now) + self.window
                }
                guard let due else { continue }
                // An event-loop timer, not `Task.sleep`: this runs up to once per window (0.5 ms)
                // under load, and each Linux `Task.sleep` leaves a Dispatch timer behind (see
                // `EventLoopTimer`).
                let left = due - .now
                if left > .zero { try? await EventLoopTimer.sleep(for: left) }
                let wanted = self.state.withLock { state in
                    defer { state.trailingWanted = false; state.lastInline = .now }
                    return state.trailingWanted
                }
                guard wanted else { continue }
                do { try await self.send() } catch {
                    self.logger.warning("trailing wake-up failed", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
        }
    }
}
