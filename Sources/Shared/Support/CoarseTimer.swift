import NIOCore
import NIOPosix
import Synchronization

/// Timeouts that are many and seldom fire — a reply's `REPLY_TIMEOUT`, a claim loop's poll, a
/// batch's deadline — kept to within one tick (10 ms) for the cost of a table entry each.
///
/// An event-loop timer (``EventLoopTimer``) costs a promise, a heap insert and, when cancelled,
/// a search of the loop's heap and a failed future: about 10 µs of the gateway's CPU per request
/// in a profile of 2026-12-02, for a timer that almost never fires. Here a timeout is an entry in
/// a dictionary, and one event-loop task — scheduled for the earliest entry's tick, and only while
/// there are entries — runs the ones that are due. An action runs at or after its time, at most
/// about one tick late.
public final class CoarseTimer: Sendable {
    /// The process's timer table.
    public static let shared = CoarseTimer(tick: .milliseconds(10))

    /// A scheduled action, for ``cancel(_:)``.
    public struct Handle: Sendable, Hashable {
        fileprivate let id: UInt64
    }

    private struct Entry {
        let due: ContinuousClock.Instant
        let action: @Sendable () -> Void
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        /// When the pending sweep runs (nil: none pending), and its number: a sweep that finds a
        /// newer number was superseded by an earlier one and does nothing.
        var sweepAt: ContinuousClock.Instant?
        var sweep: UInt64 = 0
    }

    private let state = Mutex(State())
    private let tick: Duration

    /// A table whose sweeps run at most once per `tick`.
    public init(tick: Duration) {
        precondition(tick > .zero)
        self.tick = tick
    }

    /// Runs `action` once `delay` has passed (within about a tick), unless cancelled first.
    @discardableResult
    public func schedule(after delay: Duration, _ action: @escaping @Sendable () -> Void) -> Handle {
        let now = ContinuousClock.now
        let due = now + delay
        let tick = self.tick
        let (handle, sweep): (Handle, Sweep?) = state.withLock { state in
            state.nextID += 1
            state.entries[state.nextID] = Entry(due: due, action: action)
            let handle = Handle(id: state.nextID)
            // Pull the sweep in only by more than a tick: entries due close together share one.
            if let pending = state.sweepAt, pending <= due + tick { return (handle, nil) }
            return (handle, Self.planSweep(at: max(due, now + tick), &state))
        }
        if let sweep { arm(sweep) }
        return handle
    }

    /// Forgets a scheduled action; nothing happens if it has run or was cancelled already.
    public func cancel(_ handle: Handle) {
        _ = state.withLock { $0.entries.removeValue(forKey: handle.id) }
    }

    /// How many actions are waiting (for tests).
    public var pendingCount: Int {
        state.withLock { $0.entries.count }
    }

    /// A planned sweep: when, and its number.
    private typealias Sweep = (at: ContinuousClock.Instant, number: UInt64)

    private static func planSweep(at instant: ContinuousClock.Instant, _ state: inout State) -> Sweep {
        state.sweep += 1
        state.sweepAt = instant
        return (instant, state.sweep)
    }

    private func arm(_ sweep: Sweep) {
        let delay = max(sweep.at - .now, .zero)
        _ = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(delay)) { [self] in run(sweep: sweep.number) }
    }

    /// Runs the due actions and plans the next sweep for the earliest entry left.
    private func run(sweep number: UInt64) {
        let now = ContinuousClock.now
        let tick = self.tick
        let (due, next): ([@Sendable () -> Void], Sweep?) = state.withLock { state in
            guard state.sweep == number else { return ([], nil) }
            var dueIDs: [UInt64] = []
            var earliest: ContinuousClock.Instant?
            for (id, entry) in state.entries {
                if entry.due <= now {
                    dueIDs.append(id)
                } else if earliest.map({ entry.due < $0 }) ?? true {
                    earliest = entry.due
                }
            }
            let due = dueIDs.compactMap { state.entries.removeValue(forKey: $0)?.action }
            guard let earliest else {
                state.sweepAt = nil
                return (due, nil)
            }
            return (due, Self.planSweep(at: max(earliest, now + tick), &state))
        }
        for action in due { action() }
        if let next { arm(next) }
    }
}
