import Synchronization

/// A thread-safe tally for callbacks under test.
final class Counter: Sendable {
    private let state = Mutex((count: 0, connections: 0))
    func increment() { state.withLock { $0.count += 1 } }
    func connected() { state.withLock { $0.connections += 1 } }
    var count: Int { state.withLock { $0.count } }
    var connections: Int { state.withLock { $0.connections } }
}
