import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Holds one dedicated `LISTEN` session and hands its notifications to `onNotification`.
///
/// Notifications are hints: whatever was sent while the session was down is lost, so after every
/// (re)connect `onConnect` runs and the owner rescans the table. A watchdog sends itself a ping
/// every `watchdogInterval`; a stalled backend does not end the notification sequence, so a ping
/// that does not come back within the interval drops the session and reconnects.
public struct NotificationListener: Service {
    let url: DatabaseURL
    let channels: [String]
    let applicationName: String
    let watchdogInterval: Duration
    let reconnectDelay: RetryPolicy
    let onNotification: @Sendable (_ channel: String, _ payload: String) -> Void
    let onConnect: @Sendable () -> Void
    let logger: Logger

    public init(url: DatabaseURL, channels: [String], applicationName: String,
                watchdogInterval: Duration = .seconds(5),
                reconnectDelay: RetryPolicy = RetryPolicy(base: .milliseconds(200), cap: .seconds(5)),
                logger: Logger,
                onConnect: @escaping @Sendable () -> Void,
                onNotification: @escaping @Sendable (_ channel: String, _ payload: String) -> Void) {
        self.url = url
        self.channels = channels
        self.applicationName = applicationName
        self.watchdogInterval = watchdogInterval
        self.reconnectDelay = reconnectDelay
        self.onNotification = onNotification
        self.onConnect = onConnect
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            let failures = FailureCount()
            while !Task.isCancelled {
                do {
                    // A start that keeps failing is given more time each round (up to 8 watchdog
                    // intervals): on a database too loaded to answer within one, starting over every
                    // interval would never get anywhere.
                    let startLimit = watchdogInterval * (1 << min(failures.count, 3))
                    try await session(startLimit: startLimit) { failures.reset() }
                } catch {
                    if Task.isCancelled { break }
                    logger.warning("listener lost its session", metadata: ["error": "\(String(reflecting: error))"])
                }
                try? await Task.sleep(for: reconnectDelay.delay(afterAttempt: failures.next()))
            }
        }
    }

    /// One session: connect, LISTEN on every channel, announce, then pump until something fails.
    ///
    /// Returns (throws) at the session's first failure, or when cancelled, without waiting for its
    /// work to wind down: the session runs in a task of its own, which is then cancelled, its
    /// connection closed, and the task abandoned. PostgresNIO (1.33) can leave a LISTEN or query
    /// whose connection was closed under it waiting forever, ignoring cancellation; a listener that
    /// waited for it never listened again (a loaded machine's slow LISTEN hit its start deadline,
    /// and every reply of that gateway then waited for REPLY_TIMEOUT). A stuck task costs its
    /// memory, once per such failure; the listener goes on.
    private func session(startLimit: Duration, connected: @escaping @Sendable () -> Void) async throws {
        let ended = ResumeOnce<Void>()
        let link = SessionLink()
        let work = Task {
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: url.connectionConfiguration(applicationName: applicationName), id: 1, logger: logger)
                guard link.attach(connection) else { return }
                await pump(connection, startLimit: startLimit, ended: ended, connected: connected)
            } catch {
                ended.resume(with: .failure(error))
            }
        }
        defer {
            work.cancel()
            link.close()
        }
        try await withTaskCancellationHandler {
            try await ended.value()
        } onCancel: {
            ended.resume(with: .failure(CancellationError()))
        }
    }

    /// Listens on every channel and watches the session until it fails; every failure ends `ended`.
    /// The LISTENs must be in force within `startLimit`.
    private func pump(_ connection: PostgresConnection, startLimit: Duration, ended: ResumeOnce<Void>,
                      connected: @escaping @Sendable () -> Void) async {
        let nonce = UUID().uuidString
        let pongs = LastSeen()
        let fail: @Sendable (any Error) -> Void = { ended.resume(with: .failure($0)) }
        await withTaskGroup(of: Void.self) { group in
            for channel in channels {
                group.addTask {
                    do {
                        try await connection.listen(on: channel) { notifications in
                            for try await notification in notifications {
                                if notification.payload.hasPrefix("ping:") {
                                    if notification.payload == "ping:" + nonce { pongs.touch(channel) }
                                    continue
                                }
                                onNotification(channel, notification.payload)
                            }
                        }
                        fail(ListenerError.sequenceEnded)
                    } catch {
                        fail(error)
                    }
                }
            }
            // A LISTEN is in force once a ping on its channel comes back: only then announce.
            do {
                try await withAbandonableDeadline(startLimit) {
                    while pongs.oldest(of: channels) == nil {
                        try await ping(connection, nonce: nonce)
                        try await Task.sleep(for: .milliseconds(10))
                    }
                }
            } catch {
                fail(error)
            }
            guard !ended.isDone else { return }
            connected()
            logger.info("listening", metadata: ["channels": "\(channels.joined(separator: ","))"])
            onConnect()
            group.addTask {
                do { try await watchdog(connection, nonce: nonce, pongs: pongs) } catch { fail(error) }
            }
        }
    }

    private func ping(_ connection: PostgresConnection, nonce: String) async throws {
        for channel in channels {
            try await connection.run("SELECT pg_notify(\(channel), \("ping:" + nonce))", logger: logger)
        }
    }

    private func watchdog(_ connection: PostgresConnection, nonce: String, pongs: LastSeen) async throws {
        while !Task.isCancelled {
            let sent = ContinuousClock.now
            try await withAbandonableDeadline(watchdogInterval) { try await ping(connection, nonce: nonce) }
            try await Task.sleep(for: watchdogInterval)
            guard let pong = pongs.oldest(of: channels), pong >= sent else { throw ListenerError.watchdogTimeout }
        }
    }
}

/// A session's connection, closed once when the session ends — also when the connect completes
/// after that.
private final class SessionLink: Sendable {
    private let state = Mutex<(connection: PostgresConnection?, closed: Bool)>((nil, false))

    /// Keeps `connection` for ``close()``; false (and the connection closed) if the session ended already.
    func attach(_ connection: PostgresConnection) -> Bool {
        let closed = state.withLock { state in
            if !state.closed { state.connection = connection }
            return state.closed
        }
        if closed { Self.close(connection) }
        return !closed
    }

    /// Closes the connection (without waiting: a close can hang like the rest); ends every query on it.
    func close() {
        let connection = state.withLock { state in
            state.closed = true
            defer { state.connection = nil }
            return state.connection
        }
        if let connection { Self.close(connection) }
    }

    /// Starts the close and keeps the connection alive until it is done (PostgresNIO asserts that a
    /// connection is closed before it is freed, and the session's task may let go of it first).
    private static func close(_ connection: PostgresConnection) {
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }
}

/// Failed sessions in a row, for the reconnect backoff; a session that got as far as listening resets it.
private final class FailureCount: Sendable {
    private let value = Mutex(0)
    func reset() { value.withLock { $0 = 0 } }
    var count: Int { value.withLock { $0 } }
    /// Counts a failure and returns the count.
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}

/// Why a listening session was dropped.
enum ListenerError: Error {
    case sequenceEnded
    case watchdogTimeout
}
