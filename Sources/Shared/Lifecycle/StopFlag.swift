import Synchronization

/// A one-way flag: a graceful-shutdown handler sets it and loops check it between units of work;
/// a connection's time limit sets it when it fires.
public final class StopFlag: Sendable {
    private let flag = Atomic(false)

    public init() {}

    /// Asks the loops to stop after the work in hand.
    public func set() { flag.store(true, ordering: .relaxed) }

    /// Whether stopping was asked for.
    public var isSet: Bool { flag.load(ordering: .relaxed) }
}
