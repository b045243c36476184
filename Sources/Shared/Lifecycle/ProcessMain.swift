import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// What every Stagedoor executable does around its services: settings, logging, the service group,
/// one clear line and a non-zero exit on a bad setting or an unreachable database, exit 0 on SIGTERM.
public enum ProcessMain {
    /// Parses settings, bootstraps logging and metrics, builds the services with `build`, runs them
    /// until SIGTERM/SIGINT, and exits. Services stop in reverse order of the list `build` returns.
    /// `asyncOnEventLoops`: see ``runAsyncCodeOnEventLoops()``.
    public static func run(
        process name: String,
        options: SettingsOptions,
        asyncOnEventLoops: Bool = true,
        build: (Settings, Logger) async throws -> [any Service]
    ) async -> Never {
        if asyncOnEventLoops { runAsyncCodeOnEventLoops() }
        let settings: Settings
        do {
            settings = try options.settings(environment: ProcessInfo.processInfo.environment)
        } catch {
            fail(name, "\(error)", code: 2)
        }
        Observability.bootstrap(settings)
        let logger = Observability.logger(name, "main")
        do {
            let services = try await build(settings, logger)
            let group = ServiceGroup(configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: Observability.logger(name, "lifecycle")))
            try await group.run()
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
    /// Not for the HTTP server: the gateway's plain endpoint fell from about 41,000 to 27,000–30,000
    /// requests/s and its token poll from 28,000–34,000 to 23,000–25,000, with reservations/s unchanged,
    /// so the gateway leaves Swift's default executor in place.
    public static func runAsyncCodeOnEventLoops() {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    private static func fail(_ name: String, _ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("stagedoor-\(name): \(message)\n".utf8))
        exit(code)
    }
}
