import ArgumentParser
import Foundation

/// `stagedoor-admin jobs …`: dead jobs through the operator API.
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "List, retry and discard dead jobs.", subcommands: [Dead.self, Retry.self, Discard.self])

    static let header = ["ID", "KIND", "STATE", "ATTEMPTS", "USER", "CREATED", "LAST ERROR"]

    static func row(_ job: [String: Any]) -> [String] {
        ["jobId", "kind", "state", "attempts", "userId", "createdAt", "lastError"].map { Table.cell(job[$0]) }
    }

    struct Dead: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Dead jobs, newest first.")
        @OptionGroup var options: OperatorOptions
        @Option(help: "Only this kind (reserve, pay, charge, cancel).") var kind: String?
        @Option(help: "At most this many (1–500).") var limit = 50
        @Flag(help: "Queued jobs instead of dead ones.") var queued = false

        func run() async throws {
            var query = "?state=\(queued ? "queued" : "dead")&limit=\(limit)"
            if let kind { query += "&kind=\(kind.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? kind)" }
            try await options.withClient { client in
                let answer = try await client.call(.GET, "/v1/admin/jobs" + query)
                if options.json { print(answer.text); return }
                let jobs = answer.object["jobs"] as? [[String: Any]] ?? []
                print(Table.render(JobsCommand.header, jobs.map(JobsCommand.row)))
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue dead jobs again, their attempts reset.")
        @OptionGroup var options: OperatorOptions
        @Argument(help: "Job ids.") var jobIds: [Int64]

        func run() async throws {
            try await options.withClient { client in
                for id in jobIds {
                    let answer = try await client.call(.POST, "/v1/admin/jobs/\(id)/retry")
                    print(options.json ? answer.text : "job \(id) queued again")
                }
            }
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove dead jobs for good.")
        @OptionGroup var options: OperatorOptions
        @Argument(help: "Job ids.") var jobIds: [Int64]

        func run() async throws {
            try await options.withClient { client in
                for id in jobIds {
                    _ = try await client.call(.DELETE, "/v1/admin/jobs/\(id)")
                    print(options.json ? "{\"jobId\":\(id),\"discarded\":true}" : "job \(id) discarded")
                }
            }
        }
    }
}

/// `stagedoor-admin stats [--watch]`: the queue and the rooms at a glance.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "The queue's counts and every room; --watch refreshes.")
    @OptionGroup var options: OperatorOptions
    @Flag(help: "Refresh until interrupted.") var watch = false
    @Option(help: "Seconds between refreshes with --watch.") var interval: Double = 2

    func run() async throws {
        guard interval >= 0.2 else { throw ValidationError("--interval: at least 0.2 seconds") }
        try await options.withClient { client in
            repeat {
                let answer = try await client.call(.GET, "/v1/admin/stats")
                if options.json {
                    print(answer.text)
                } else {
                    if watch { print("\u{1B}[H\u{1B}[2J", terminator: "") }  // clear the screen
                    let jobs = answer.object["jobs"] as? [String: Any] ?? [:]
                    let rooms = answer.object["rooms"] as? [[String: Any]] ?? []
                    print("jobs: \(Table.cell(jobs["queued"])) queued, \(Table.cell(jobs["running"])) running, \(Table.cell(jobs["dead"])) dead; "
                          + "oldest queued \(String(format: "%.1f", (jobs["oldestQueuedSeconds"] as? NSNumber)?.doubleValue ?? 0)) s")
                    print("")
                    print(Table.render(RoomsCommand.header, rooms.map(RoomsCommand.row)))
                    if watch { print("\n\(Date()) — every \(interval) s; Ctrl-C stops") }
                }
                if watch { try await Task.sleep(for: .seconds(interval)) }
            } while watch
        }
    }
}
