import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import Shared

/// `stagedoor-load`: drives a running Stagedoor over HTTP as real clients do, and prints tables.
@main
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stagedoor-load",
        abstract: "Load generator for Stagedoor: a flash crowd playing the whole journey, booking benchmarks, invariant checks.",
        subcommands: [CrowdCommand.self, ReserveBench.self, HotSeatBench.self, CheckCommand.self, RoomsCommand.self, FairStartCommand.self,
                      StreamsCommand.self, StreamsWorkerCommand.self])

    /// The client's async code on its I/O threads too: less of the shared CPU goes to the load itself.
    static func main() async {
        ProcessMain.runAsyncCodeOnEventLoops()
        await main(nil)
    }
}

/// Where the system under load is.
struct Target: ParsableArguments {
    @Option(help: "The gateway (or the balancer in front of several).") var url = "http://127.0.0.1:8080"
    @Option(help: "The database, for fixtures and checks.") var databaseUrl = ProcessInfo.processInfo.environment["DATABASE_URL"] ?? ""

    func client(connections: Int) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        // The connect timeout also bounds the wait for a pooled connection: a burst queues there.
        configuration.timeout = .init(connect: .seconds(60), read: .seconds(60))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}

/// A live progress line on stderr, once a second, until `finish()`.
final class Progress: Sendable {
    private let task: Task<Void, Never>

    init(stats: Stats, extra: @escaping @Sendable () -> String = { "" }) {
        task = Task {
            var previous = (count: 0, at: ContinuousClock.now)
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let now = (count: stats.total, at: ContinuousClock.now)
                let rate = Int(Double(now.count - previous.count) / max((now.at - previous.at).secondsValue, 0.001))
                FileHandle.standardError.write(Data("\r\(now.count) requests, \(rate)/s \(extra())\u{1B}[K".utf8))
                previous = now
            }
        }
    }

    func finish() {
        task.cancel()
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
