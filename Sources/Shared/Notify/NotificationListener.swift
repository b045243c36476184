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
                    // A session of its own, given a second to end once cancelled (see withCancellationGrace).
                    try await withCancellationGrace(.seconds(1)) { try await listenOnce { failures.reset() } }
                } catch {
                    if Task.isCancelled { break }
                    logger.warning("listener lost its session", metadata: ["error": "\(String(reflecting: error))"])
                }
                try? await Task.sleep(for: reconnectDelay.delay(afterAttempt: failures.next()))
            }
        }
    }

    /// One session: connect, LISTEN on every channel, announce, then pump until something fails.
    /// Cancelled, it closes its connection at once, so even a session stuck in PostgresNIO ends on
    /// the server.
    private func listenOnce(connected: @escaping @Sendable () -> Void) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: url.connectionConfiguration(applicationName: applicationName), id: 1, logger: logger)
        do {
            try await withTaskCancellationHandler {
                try await pump(connection, connected: connected)
            } onCancel: {
                _ = connection.close() as EventLoopFuture<Void>
            }
        } catch {
            try? await connection.close()
            throw error
        }
        try? await connection.close()
    }

    private func pump(_ connection: PostgresConnection, connected: () -> Void) async throws {
        let nonce = UUID().uuidString
        let pongs = LastSeen()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for channel in channels {
                group.addTask {
                    try await connection.listen(on: channel) { notifications in
                        for try await notification in notifications {
                            if notification.payload.hasPrefix("ping:") {
                                if notification.payload == "ping:" + nonce { pongs.touch(channel) }
                                continue
                            }
                            onNotification(channel, notification.payload)
                        }
                    }
                    throw ListenerError.sequenceEnded
                }
            }
            // A LISTEN is in force once a ping on its channel comes back: only then announce.
            try await connection.closing(after: watchdogInterval) {
                while pongs.oldest(of: channels) == nil {
                    try await ping(connection, nonce: nonce)
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            connected()
            logger.info("listening", metadata: ["channels": "\(channels.joined(separator: ","))"])
            onConnect()
            group.addTask { try await watchdog(connection, nonce: nonce, pongs: pongs) }
            try await group.next()
            group.cancelAll()
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
            try await connection.closing(after: watchdogInterval) { try await ping(connection, nonce: nonce) }
            try await Task.sleep(for: watchdogInterval)
            guard let pong = pongs.oldest(of: channels), pong >= sent else {
                try? await connection.close()  // ends the notification sequences, so the session can be replaced
                throw ListenerError.watchdogTimeout
            }
        }
    }
}

/// Failed sessions in a row, for the reconnect backoff; a session that got as far as listening resets it.
private final class FailureCount: Sendable {
    private let count = Mutex(0)
    func reset() { count.withLock { $0 = 0 } }
    /// Counts a failure and returns the count.
    func next() -> Int { count.withLock { $0 += 1; return $0 } }
}

/// Why a listening session was dropped.
enum ListenerError: Error {
    case sequenceEnded
    case watchdogTimeout
}
