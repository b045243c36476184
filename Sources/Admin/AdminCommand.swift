import ArgumentParser

/// `stagedoor-admin`: the operator's command line.
@main
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stagedoor-admin",
        abstract: "Operates a Stagedoor deployment.",
        discussion: """
            Every command but `migrate` talks to the operator API of a gateway: STAGEDOOR_URL (or --url) and
            ADMIN_KEY (or --admin-key). `migrate` talks to DATABASE_URL. Tables for people; --json for scripts.
            On failure: one line on stderr and a non-zero exit.
            """,
        subcommands: [RoomsCommand.self, JobsCommand.self, StatsCommand.self, MigrateCommand.self])
}
