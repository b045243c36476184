import ArgumentParser
import Shared

/// `stagedoor-gateway`: the HTTP API. Validates, reads from Postgres, turns writes into jobs.
@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stagedoor-gateway",
        abstract: "Serves the Stagedoor HTTP API. Settings come from the environment or these flags.")

    @OptionGroup var options: SettingsOptions

    func run() async throws {
        // HTTP serving measured faster on Swift's own executor (see ProcessMain.runAsyncCodeOnEventLoops).
        await ProcessMain.run(process: "gateway", options: options, asyncOnEventLoops: false) { settings, _ in
            buildGateway(settings: settings)
        }
    }
}
