import Synchronization

/// When each channel's watchdog ping last came back.
final class LastSeen: Sendable {
    private let seen = Mutex<[String: ContinuousClock.Instant]>([:])

    func touch(_ channel: String) { seen.withLock { $0[channel] = .now } }

    /// The oldest of the channels' last pongs; nil until every channel in `channels` has answered once.
    func oldest(of channels: [String]) -> ContinuousClock.Instant? {
        seen.withLock { seen in
            var oldest: ContinuousClock.Instant?
            for channel in channels {
                guard let instant = seen[channel] else { return nil }
                oldest = min(oldest ?? instant, instant)
            }
            return oldest
        }
    }
}
