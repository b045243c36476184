import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Bounds a graceful shutdown. From the moment the service group starts its graceful shutdown
/// (SIGTERM or SIGINT) the process has `SHUTDOWN_TIMEOUT` to drain; past it, it logs the services
/// still running and exits 1. What they had in flight goes with the process: an open transaction
/// rolls back when its connection closes, and another worker claims its jobs again.
public struct ShutdownDeadline: Sendable {
    let timeout: Duration
    let running: RunningServices
    let logger: Logger
    private let began: AsyncStream<Void>
    private let begin: AsyncStream<Void>.Continuation

    init(timeout: Duration, running: RunningServices, logger: Logger) {
        self.timeout = timeout
        self.running = running
        self.logger = logger
        (began, begin) = AsyncStream.makeStream(of: Void.self)
    }

    /// The service that starts the clock. List it last: the group shuts services down in reverse
    /// order, so it hears of the shutdown first, starts the clock and ends at once.
    var trigger: some Service { Trigger(begin: begin) }

    /// Waits for the shutdown to begin, then for `timeout`; returns only if cancelled first (the
    /// services all ended in time).
    func watch() async {
        for await _ in began { break }
        guard !Task.isCancelled else { return }
        do { try await Task.sleep(for: timeout) } catch { return }
        let still = running.names.joined(separator: ", ")
        logger.error("shutdown did not end in time; exiting", metadata: ["shutdown.timeout": "\(timeout)", "still.running": "\(still)"])
        FileHandle.standardError.write(Data("shutdown did not end within \(timeout); still running: \(still)\n".utf8))
        exit(1)
    }

    private struct Trigger: Service, CustomStringConvertible {
        let begin: AsyncStream<Void>.Continuation
        var description: String { "ShutdownDeadline" }

        func run() async throws {
            // Throws only when cancelled: then there is no drain to bound.
            try await gracefulShutdown()
            begin.yield()
        }
    }
}

/// The services of a process that have not ended yet, by name.
public final class RunningServices: Sendable {
    private let state = Mutex<[(id: Int, name: String)]>([])
    private let nextID = Atomic<Int>(0)

    public init() {}

    /// The registry of the service running this task, for services that run services of their own.
    @TaskLocal public static var current: RunningServices?

    /// Names of the services still running, in the order they started.
    public var names: [String] { state.withLock { $0.map(\.name) } }

    /// `service`, reporting here while it runs.
    func track(_ service: any Service) -> any Service {
        TrackedService(base: service, name: Self.name(of: service), running: self)
    }

    fileprivate func started(_ name: String) -> Int {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        state.withLock { $0.append((id, name)) }
        return id
    }

    fileprivate func ended(_ id: Int) {
        state.withLock { $0.removeAll { $0.id == id } }
    }

    /// A service's type name without its generic arguments (`Application`, `JobWorker`).
    static func name(of service: any Service) -> String {
        if let tracked = service as? TrackedService { return tracked.name }
        let full = String(describing: type(of: service))
        return String(full.prefix { $0 != "<" })
    }
}

/// A service that tells ``RunningServices`` when it starts and ends.
struct TrackedService: Service, CustomStringConvertible {
    let base: any Service
    let name: String
    let running: RunningServices

    var description: String { name }

    func run() async throws {
        let id = running.started(name)
        defer { running.ended(id) }
        try await RunningServices.$current.withValue(running) { try await base.run() }
    }
}
