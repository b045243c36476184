import Foundation
import Logging
import Metrics
import NIOCore
import PostgresNIO
import Shared
import Synchronization

/// This gateway's live view of every room's line, kept from the admission leader's `admission`
/// notices (and re-read from the database whenever the listener (re)connects: notices are hints),
/// and the open live-update streams it moves on: a notice for a room wakes that room's streams,
/// which compute their place in memory. So the database work for streams does not grow with their
/// number: one notice per tick for all of them, and one batched touch per interval
/// (``StreamKeeper``) that keeps their tokens from idle expiry.
final class LiveLine: Sendable {
    /// A room's line as last announced.
    struct Mark: Sendable, Equatable {
        var admittedThrough: Int64
        var state: String
        var admitPerSecond: Double
    }

    /// Why a stream's wait ended.
    enum Wake: Sendable {
        /// Its room's mark changed.
        case moved
        /// Nothing happened for the keep-alive interval.
        case quiet
        /// The stream was closed: its client went away.
        case closed
        /// The gateway is shutting down: the stream should end properly, so its client reconnects elsewhere.
        case shuttingDown
    }

    /// An open stream: its token (for the touch), its room, how many of its room's changes it has
    /// been told of, and its wait (and since when), while it waits. A stream served on its channel's
    /// event loop (``LiveSink``) has no wait: it is called instead, and `waitingSince` is its last news.
    private struct Listener {
        let tokenID: Int64
        let roomID: Int64
        var changes: UInt64 = 0
        var waiter: CheckedContinuation<Wake, Never>?
        var waitingSince: ContinuousClock.Instant = .now
        var sink: (any LiveSink)?
    }

    private struct State {
        var marks: [Int64: Mark] = [:]
        var listeners: [UInt64: Listener] = [:]
        var nextID: UInt64 = 0
        var closed = false
    }

    private let state = Mutex(State())
    let maxStreams: Int
    /// How long a stream waits without news before ``wakeQuiet()`` ends its wait as `quiet`.
    let keepAlive: Duration
    /// `stagedoor_gateway_open_streams`.
    private let openGauge = Gauge(label: "stagedoor_gateway_open_streams")
    /// `stagedoor_gateway_streams_opened_total{served}`: streams served on their connection's event
    /// loop (asked for first on a connection, ``LiveStream``) or by a request's task (``TokenEvents``).
    private let openedOnLoop = Counter(label: "stagedoor_gateway_streams_opened_total", dimensions: [("served", "event_loop")])
    private let openedInTask = Counter(label: "stagedoor_gateway_streams_opened_total", dimensions: [("served", "task")])

    init(maxStreams: Int, keepAlive: Duration = .seconds(15)) {
        self.maxStreams = maxStreams
        self.keepAlive = keepAlive
        openGauge.record(0)
    }

    /// The room's line as last announced, if any notice or read has told of it.
    func mark(room: Int64) -> Mark? {
        state.withLock { $0.marks[room] }
    }

    /// Takes notices in: marks only move forward (a late or repeated notice never moves a line back),
    /// and the streams of every room whose mark changed are woken.
    func apply(_ notices: [AdmissionNotice]) {
        var sinks: [any LiveSink] = []
        let woken = state.withLock { state -> [CheckedContinuation<Wake, Never>] in
            var changed = Set<Int64>()
            for notice in notices {
                let new = Mark(admittedThrough: notice.admittedThrough, state: notice.state, admitPerSecond: notice.admitPerSecond)
                if let old = state.marks[notice.roomID] {
                    guard old != new, new.admittedThrough >= old.admittedThrough else { continue }
                }
                state.marks[notice.roomID] = new
                changed.insert(notice.roomID)
            }
            guard !changed.isEmpty else { return [] }
            var woken: [CheckedContinuation<Wake, Never>] = []
            let now = ContinuousClock.now
            for (id, listener) in state.listeners where changed.contains(listener.roomID) {
                state.listeners[id]?.changes += 1
                if let sink = listener.sink {
                    sinks.append(sink)
                    state.listeners[id]?.waitingSince = now
                } else if let waiter = listener.waiter {
                    woken.append(waiter)
                    state.listeners[id]?.waiter = nil
                }
            }
            return woken
        }
        for waiter in woken { waiter.resume(returning: .moved) }
        Self.wake(sinks, .moved)
    }

    /// Wakes streams served on event loops: one task per loop for all of its streams.
    private static func wake(_ sinks: [any LiveSink], _ wake: Wake) {
        guard !sinks.isEmpty else { return }
        var byLoop: [ObjectIdentifier: (loop: any EventLoop, sinks: [any LiveSink])] = [:]
        for sink in sinks {
            byLoop[ObjectIdentifier(sink.eventLoop), default: (sink.eventLoop, [])].sinks.append(sink)
        }
        for (loop, sinks) in byLoop.values {
            loop.execute {
                for sink in sinks { sink.wake(wake) }
            }
        }
    }

    /// Re-reads every room's mark (after the listener (re)connects: notices sent while it was away are
    /// lost), retrying each second for up to `attempts` — the listener of a gateway starting on an
    /// empty database connects before the migrations have made the rooms.
    func reload(_ client: PostgresClient, logger: Logger, attempts: Int = 30) async {
        for attempt in 1...attempts {
            do {
                var notices: [AdmissionNotice] = []
                for try await (id, through, roomState, rate) in try await client.query(
                    "SELECT id, admitted_through, state, admit_per_second FROM rooms_in_force", logger: logger)
                    .decode((Int64, Int64, String, Double).self) {
                    notices.append(AdmissionNotice(roomID: id, admittedThrough: through, state: roomState, admitPerSecond: rate))
                }
                apply(notices)
                return
            } catch {
                guard attempt < attempts, (try? await Task.sleep(for: .seconds(1))) != nil else {
                    logger.warning("could not re-read the rooms' marks", metadata: ["error": "\(String(reflecting: error))"])
                    return
                }
            }
        }
    }

    /// A new stream for `tokenID` in `roomID`; nil past `maxStreams` or once the gateway is shutting down.
    func open(tokenID: Int64, roomID: Int64) -> UInt64? {
        open(Listener(tokenID: tokenID, roomID: roomID))
    }

    /// A new stream served on its channel's event loop: `sink` is called there with every wake,
    /// instead of waiting (``wait(_:seen:)``); nil past `maxStreams` or once shutting down.
    func open(tokenID: Int64, roomID: Int64, sink: any LiveSink) -> UInt64? {
        open(Listener(tokenID: tokenID, roomID: roomID, sink: sink))
    }

    private func open(_ listener: Listener) -> UInt64? {
        let id = state.withLock { state -> UInt64? in
            guard !state.closed, state.listeners.count < maxStreams else { return nil }
            state.nextID += 1
            state.listeners[state.nextID] = listener
            openGauge.record(state.listeners.count)
            return state.nextID
        }
        if id != nil { (listener.sink == nil ? openedInTask : openedOnLoop).increment() }
        return id
    }

    /// Waits until the stream's room changes after the `seen`-th change it was told of, or it has
    /// waited ``keepAlive`` (``wakeQuiet()``), or the stream closes (``close(_:)``, which its
    /// request's inbound-close handler calls when the client goes away) or the gateway shuts down.
    /// Returns why, and the number of changes seen.
    ///
    /// No timer and no cancellation handler per wait: one sweep a second ends the quiet ones, and a
    /// closing stream is woken by whoever closes it. (A task per wait for the timeout, created and
    /// cancelled at every tick, was ten thousand tasks a second at ten thousand streams; the
    /// cancellation handler's bookkeeping was 7 % of the gateway's time fanning out a tick.)
    func wait(_ id: UInt64, seen: UInt64) async -> (wake: Wake, changes: UInt64) {
        let wake = await withCheckedContinuation { (continuation: CheckedContinuation<Wake, Never>) in
            let now = state.withLock { state -> Wake? in
                if state.closed { return .shuttingDown }
                guard let listener = state.listeners[id] else { return .closed }
                if listener.changes != seen { return .moved }
                state.listeners[id]?.waiter = continuation
                state.listeners[id]?.waitingSince = .now
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
        return (wake, state.withLock { $0.listeners[id]?.changes ?? seen })
    }

    /// Ends, as `quiet`, every wait that has lasted ``keepAlive`` (the stream then sends a
    /// keep-alive and waits again). Called about once a second.
    func wakeQuiet() {
        let now = ContinuousClock.now
        let due = now - keepAlive
        var sinks: [any LiveSink] = []
        let waiters = state.withLock { state -> [CheckedContinuation<Wake, Never>] in
            var waiters: [CheckedContinuation<Wake, Never>] = []
            for (id, listener) in state.listeners where listener.waitingSince <= due {
                if let sink = listener.sink {
                    sinks.append(sink)
                    state.listeners[id]?.waitingSince = now
                    continue
                }
                guard let waiter = listener.waiter else { continue }
                waiters.append(waiter)
                state.listeners[id]?.waiter = nil
            }
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: .quiet) }
        Self.wake(sinks, .quiet)
    }

    /// Forgets a stream (it ended, or its client went away).
    func close(_ id: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Wake, Never>? in
            let listener = state.listeners.removeValue(forKey: id)
            openGauge.record(state.listeners.count)
            return listener?.waiter
        }
        waiter?.resume(returning: .closed)
    }

    enum StreamState {
        case open
        /// Its client went away.
        case closed
        /// The gateway is shutting down.
        case shuttingDown
    }

    /// Whether the stream is still open.
    func streamState(_ id: UInt64) -> StreamState {
        state.withLock { $0.closed ? .shuttingDown : $0.listeners[id] == nil ? .closed : .open }
    }

    /// Ends every stream and takes no more (graceful shutdown: their clients reconnect elsewhere).
    func closeAll() {
        var sinks: [any LiveSink] = []
        let waiters = state.withLock { state -> [CheckedContinuation<Wake, Never>] in
            state.closed = true
            var waiters: [CheckedContinuation<Wake, Never>] = []
            for (id, listener) in state.listeners {
                if let sink = listener.sink { sinks.append(sink) }
                if let waiter = listener.waiter { waiters.append(waiter) }
                state.listeners[id]?.waiter = nil
            }
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: .shuttingDown) }
        Self.wake(sinks, .shuttingDown)
    }

    /// The tokens of the open streams.
    var listeningTokens: [Int64] {
        state.withLock { $0.listeners.values.map(\.tokenID) }
    }

    /// How many streams are waiting now (for tests).
    var waitingCount: Int { state.withLock { $0.listeners.values.filter { $0.waiter != nil }.count } }

    /// How many streams are open.
    var openCount: Int { state.withLock { $0.listeners.count } }
}

/// A live-update stream served on its channel's event loop rather than in a task (``LiveStream``):
/// ``LiveLine`` calls it, on `eventLoop`, with each wake — `moved`, `quiet` or `shuttingDown`.
protocol LiveSink: AnyObject, Sendable {
    var eventLoop: any EventLoop { get }
    /// Called on ``eventLoop``.
    func wake(_ wake: LiveLine.Wake)
}
