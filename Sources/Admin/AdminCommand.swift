import ArgumentParser

/// `stagedoor-admin`: the operator's command line.
@main
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stagedoor-admin",
        abstract: "Operates a Stagedoor deployment.",
        subcommands: [MigrateCommand.self])
}
