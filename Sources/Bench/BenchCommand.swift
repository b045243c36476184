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

    @Option(help: "A command that runs pgbench's single-row INSERT on the same server with the client count it is given as its one argument, and prints the tps. Run beside each enqueue + run round at the same count.")
    var pgbenchCommand: String?

    @Option(help: "Rounds of pgbench then enqueue + run, per producer count; the table gives each round's ratio and their median.")
    var rounds: Int = 3

    @Option(help: "Producer counts of the enqueue + run scenario, comma-separated (each enqueues one job at a time).")
    var producers: String = "32,128"

    @Option(help: "Jobs claimed per transaction.")
    var batch: Int = 100

    @Option(help: "Claim loops.")
    var concurrency: Int = 2

    @Option(help: "Scenarios to run, comma-separated: enqueue, backlog, paced.")
    var scenarios: String = "enqueue,backlog,paced"

    @Flag(help: "Print the pgbench script of one batch of --batch jobs as the engine runs it (its own statements), and exit.")
    var printCeilingScript = false

    func run() async throws {
        if printCeilingScript {
            print(JobStore.ceilingScript(batch: batch), terminator: "")
            return
        }
        // The workers' own logging and metrics, so the engine's drain pays what it pays in them.
        var settings = Settings.defaults
        settings.logLevel = .warning
        Observability.bootstrap(settings, logToStandardError: true)
        guard let server = DatabaseURL(parsing: serverUrl) else { throw ValidationError("invalid --server-url") }
        let bench = JobBench(server: server, batch: batch, concurrency: concurrency)
        var rows: [ReportRow] = []
        var summary: [String] = []
        let producerCounts = producers.split(separator: ",").compactMap { Int($0) }
        guard !producerCounts.isEmpty, producerCounts.allSatisfy({ $0 > 0 }) else { throw ValidationError("invalid --producers") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        let chosen = Set(scenarios.split(separator: ",").map(String.init))
        if chosen.contains("enqueue") {
            // This VM's speed drifts by 10-30 % from one minute to the next, so each engine run is
            // compared with a pgbench run just before it, and the rounds' median ratio is the figure.
            let windows = [Duration.zero, Settings.defaults.notifyCoalesce]
            for count in producerCounts {
                var ratios: [Duration: [Double]] = [:]
                for round in 1...(pgbenchCommand == nil ? 1 : rounds) {
                    var yardstick: Double?
                    if let pgbenchCommand {
                        let tps = try await Self.pgbench(pgbenchCommand, clients: count)
                        rows.append(ReportRow(scenario: "pgbench: single-row INSERT, \(count) clients (one commit each), round \(round)",
                                              jobs: nil, rate: tps))
                        yardstick = tps
                    }
                    for window in windows {
                        var row = try await bench.enqueueAndRun(jobs: jobs, producers: count, coalesce: window)
                        if let yardstick {
                            row.scenario += ", round \(round)"
                            row.ratio = row.rate / yardstick
                            ratios[window, default: []].append(row.rate / yardstick)
                        }
                        rows.append(row)
                    }
                }
                if pgbenchCommand != nil {
                    let medians = windows.map { window in
                        let label = window == .zero ? "NOTIFY every job" : "NOTIFY coalesced"
                        return "\(label) \(ReportRow.ratio(Self.median(ratios[window, default: []])))"
                    }
                    summary.append("- \(count) producers vs pgbench at \(count) clients, median of \(rounds) rounds: \(medians.joined(separator: ", "))")
                }
            }
        }
        if chosen.contains("backlog") { rows.append(try await bench.drainBacklog(jobs: jobs)) }
        if chosen.contains("paced") {
            for window in [Duration.zero, Settings.defaults.notifyCoalesce] {
                rows.append(try await bench.paced(rate: pacedRate, seconds: pacedSeconds, coalesce: window))
            }
        }
        print(ReportRow.table(rows, title: "Job engine"))
        if !summary.isEmpty { print(""); print(summary.joined(separator: "\n")) }
    }

    /// Runs the pgbench command for `clients` and reads the tps it prints. Waits for the exit
    /// without holding a thread (its output is one line, well under a pipe's buffer).
    static func pgbench(_ command: String, clients: Int) async throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command)
        process.arguments = [String(clients)]
        let output = Pipe()
        process.standardOutput = output
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard status == 0, let tps = Double(text) else {
            throw ValidationError("the pgbench command printed '\(text)' (exit \(status)), not a tps figure")
        }
        return tps
    }

    /// The middle value (the mean of the two middle ones for an even count).
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
