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
        OpenFiles.raiseLimit()  // each open live-update stream holds a connection
        await ProcessMain.run(process: "gateway", options: options) { settings, _ in
            buildGateway(settings: settings)
        }
    }
}
