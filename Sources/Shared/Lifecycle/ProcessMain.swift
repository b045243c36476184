import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// What every Stagedoor executable does around its services: settings, logging, the service group,
/// one clear line and a non-zero exit on a bad setting or an unreachable database, exit 0 on SIGTERM
/// (or 1 when the drain outlasts `SHUTDOWN_TIMEOUT`: ``ShutdownDeadline``).
public enum ProcessMain {
    /// Parses settings, bootstraps logging and metrics, builds the services with `build`, runs them
    /// until SIGTERM/SIGINT, and exits. Services stop in reverse order of the list `build` returns.
    /// With `EXECUTOR=event-loops` (the default), async code runs on NIO's event loops: see
    /// ``runAsyncCodeOnEventLoops()``.
    public static func run(
        process name: String,
        options: SettingsOptions,
        build: (Settings, Logger) async throws -> [any Service]
    ) async -> Never {
        let settings: Settings
        do {
            settings = try options.settings(environment: ProcessInfo.processInfo.environment)
        } catch {
            fail(name, "\(error)", code: 2)
        }
        // Before any service starts (and before anything makes NIO's shared event loops): from here
        // on, every task runs on the chosen executor.
        if settings.eventLoops > 0 { NIOSingletons.groupLoopCountSuggestion = settings.eventLoops }
        if settings.executor == .eventLoops { runAsyncCodeOnEventLoops() }
        Observability.bootstrap(settings)
        StatementStyle.current = settings.statementStyle
        let logger = Observability.logger(name, "main")
        do {
            let services = try await build(settings, logger)
            let running = RunningServices()
            let deadline = ShutdownDeadline(timeout: settings.shutdownTimeout, running: running, logger: logger)
            let group = ServiceGroup(configuration: .init(
                services: services.map { .init(service: running.track($0)) } + [.init(service: deadline.trigger)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: Observability.logger(name, "lifecycle")))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                tasks.addTask { await deadline.watch() }
                // The group ends first (the deadline's watch returns only when cancelled).
                try await tasks.next()
                tasks.cancelAll()
            }
            logger.info("stopped")
            exit(0)
        } catch let error as StartupError {
            fail(name, error.message, code: 1)
        } catch let error as ServiceGroupError {
            fail(name, "\(error)", code: 1)
        } catch {
            fail(name, String(describing: error), code: 1)
        }
    }

    /// Makes NIO's event loops (the HTTP server's, PostgresNIO's and AsyncHTTPClient's) Swift
    /// Concurrency's global executor, so async code runs on the threads that do its I/O instead of
    /// on a separate pool that every read and write hops to and from. Call once, first thing.
    ///
    /// Measured on 2 cores, two to four runs each way: the job engine (enqueue + run, coalesced
    /// NOTIFY) 17,300 -> 22,000 jobs/s, and the payment worker's CPU per reservation about 8 % lower.
    /// The gateway trades: with its reserve path at one lookup wait (2026-11-25), reservations rose
    /// from 2,356–2,730 to 2,646–2,725/s in the benchmark (2,800–2,900 -> 3,200–3,480 in a longer
    /// harness run) and the open loop's p99 at half that rate fell from 110–216 to 45–86 ms, while
    /// the plain endpoint fell from 35,000–39,000 to 27,000 requests/s and the token poll from
    /// 28,600–30,500 to 24,500. `EXECUTOR=pool` keeps Swift's default executor for a gateway that
    /// serves mostly polls.
    public static func runAsyncCodeOnEventLoops() {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    private static func fail(_ name: String, _ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("stagedoor-\(name): \(message)\n".utf8))
        exit(code)
    }
}
