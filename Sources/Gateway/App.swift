import ArgumentParser
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// `stagedoor-gateway`: the HTTP API. Validates, reads from Postgres, turns writes into jobs.
@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stagedoor-gateway",
        abstract: "Serves the Stagedoor HTTP API. Settings come from the environment or these flags.")

    @OptionGroup var options: SettingsOptions

    func run() async throws {
        Self.raiseOpenFileLimit()
        await ProcessMain.run(process: "gateway", options: options) { settings, _ in
            buildGateway(settings: settings)
        }
    }

    /// Each open live-update stream holds a connection: the soft limit on open files goes up to the
    /// hard one (often 1,024 against 1,048,576), wherever the gateway is started (scripts, containers).
    static func raiseOpenFileLimit() {
        #if canImport(Glibc)
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        #endif
    }
}
