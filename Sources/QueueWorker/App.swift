import ArgumentParser
import Shared

/// `stagedoor-queue-worker`: the waiting room's clock — admits and expires tokens every tick.
@main
struct QueueWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stagedoor-queue-worker",
        abstract: "Admits waiting tokens at a fixed rate and expires them. Settings come from the environment or these flags.")

    @OptionGroup var options: SettingsOptions

    func run() async throws {
        await ProcessMain.run(process: "queue-worker", options: options) { settings, _ in
            buildQueueWorker(settings: settings)
        }
    }
}
