import Synchronization

/// Metric objects made once per key and then reused. Making one asks the metrics factory, which
/// looks its label and dimensions up under a lock; these are asked for on every job and every
/// write request.
public final class MadeOnce<Key: Hashable & Sendable, Metric: Sendable>: Sendable {
    private let made = Mutex<[Key: Metric]>([:])
    private let make: @Sendable (Key) -> Metric

    public init(_ make: @escaping @Sendable (Key) -> Metric) {
        self.make = make
    }

    public func callAsFunction(_ key: Key) -> Metric {
        made.withLock { made in
            if let metric = made[key] { return metric }
            let metric = make(key)
            made[key] = metric
            return metric
        }
    }
}
