import ArgumentParser
import Foundation
import Logging
import Shared

/// `stagedoor-bench`: measures the job engine (and, later, the HTTP paths) and prints a table.
/// `make bench` starts a throwaway PostgreSQL, runs pgbench beside it, and calls this.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stagedoor-bench",
        abstract: "Benchmarks Stagedoor against a PostgreSQL server and prints a Markdown table.")

    /// The client's async code on its I/O threads too: less of the shared CPU goes to the load itself.
    static func main() async {
        ProcessMain.runAsyncCodeOnEventLoops()
        await main(nil)
    }

    @Option(help: "A server to create throwaway databases on (postgres://…/postgres).")
    var serverUrl: String

    @Option(help: "Jobs per throughput scenario.")
    var jobs: Int = 100_000

    @Option(help: "Rate of the paced latency scenario, jobs per second.")
    var pacedRate: Int = 1000

    @Option(help: "Length of the paced latency scenario, seconds.")
    var pacedSeconds: Int = 10

    @Option(help: "pgbench's single-row INSERT rate on the same server, measured by the caller, as CLIENTS:TPS (repeatable).")
    var pgbench: [String] = []

    @Option(help: "Producer counts of the enqueue + run scenario, comma-separated (each enqueues one job at a time).")
    var producers: String = "32,128"

    @Option(help: "Jobs claimed per transaction.")
    var batch: Int = 100

    @Option(help: "Claim loops.")
    var concurrency: Int = 2

    @Option(help: "Scenarios to run, comma-separated: enqueue, backlog, paced.")
    var scenarios: String = "enqueue,backlog,paced"

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        guard let server = DatabaseURL(parsing: serverUrl) else { throw ValidationError("invalid --server-url") }
        let bench = JobBench(server: server, batch: batch, concurrency: concurrency)
        var rows: [ReportRow] = []
        for measured in pgbench {
            let parts = measured.split(separator: ":")
            guard parts.count == 2, let clients = Int(parts[0]), let tps = Double(parts[1]) else {
                throw ValidationError("--pgbench takes CLIENTS:TPS, got '\(measured)'")
            }
            rows.append(ReportRow(scenario: "pgbench: single-row INSERT, \(clients) clients (one commit each)", jobs: nil, rate: tps))
        }
        let producerCounts = producers.split(separator: ",").compactMap { Int($0) }
        guard !producerCounts.isEmpty, producerCounts.allSatisfy({ $0 > 0 }) else { throw ValidationError("invalid --producers") }
        let chosen = Set(scenarios.split(separator: ",").map(String.init))
        if chosen.contains("enqueue") {
            for count in producerCounts {
                for window in [Duration.zero, .milliseconds(2)] {
                    rows.append(try await bench.enqueueAndRun(jobs: jobs, producers: count, coalesce: window))
                }
            }
        }
        if chosen.contains("backlog") { rows.append(try await bench.drainBacklog(jobs: jobs)) }
        if chosen.contains("paced") {
            for window in [Duration.zero, .milliseconds(2)] {
                rows.append(try await bench.paced(rate: pacedRate, seconds: pacedSeconds, coalesce: window))
            }
        }
        print(ReportRow.table(rows, title: "Job engine"))
    }
}
