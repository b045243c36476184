import Foundation
import Logging
import ServiceLifecycle

/// What every Stagedoor executable does around its services: settings, logging, the service group,
/// one clear line and a non-zero exit on a bad setting or an unreachable database, exit 0 on SIGTERM.
public enum ProcessMain {
    /// Parses settings, bootstraps logging and metrics, builds the services with `build`, runs them
    /// until SIGTERM/SIGINT, and exits. Services stop in reverse order of the list `build` returns.
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

    private static func fail(_ name: String, _ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("stagedoor-\(name): \(message)\n".utf8))
        exit(code)
    }
}
