import ArgumentParser
import Shared

/// `stagedoor-payment-worker`: runs reservation, cancellation, charge and payment jobs.
@main
struct PaymentWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stagedoor-payment-worker",
        abstract: "Claims jobs from Postgres and runs them under row locks. Settings come from the environment or these flags.")

    @OptionGroup var options: SettingsOptions

    func run() async throws {
        await ProcessMain.run(process: "payment-worker", options: options) { settings, _ in
            buildPaymentWorker(settings: settings)
        }
    }
}
