import ArgumentParser
import Foundation
import Logging
import Shared
import Synchronization

/// What one load process of `stagedoor-load streams` reports at its end.
struct StreamsWorkerResult: Codable {
    var endedActive = 0
    var failedCount = 0
    /// A few of the failures, distinct, in words.
    var failureSamples: [String] = []
    /// When each failure happened (seconds since 1970).
    var failedAt: [Double] = []
    var unmatched = 0
    var eventDelays = DelayHistogram()
    var turnDelays = DelayHistogram()
}

/// `stagedoor-load streams-worker` (started by `streams`, not by people): opens one stream per fan
/// of its file, reports `progress <opened> <failed>` lines on stdout while they open, and once every
/// stream has ended, `result <JSON>` with the delays from each `admission` notice it heard to the
/// events that showed it.
struct StreamsWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streams-worker", abstract: "One load process of `streams` (started by it).", shouldDisplay: false)

    @Option(help: "Fans, one per line: gateway URL, source address (- for any), API key, token, place; tab-separated.")
    var fansFile: String
    @Option var databaseUrl: String
    @Option var room: Int64
    @Option(help: "Streams connecting at once.") var connecting = 256

    struct Fan {
        let host: String
        let port: Int
        let source: String?
        let key: String
        let token: String
        let place: Int64
    }

    struct Progress {
        var opened = 0
        var ended = 0
        var failed = 0
        var failedAt: [Double] = []
        var samples: Set<String> = []
    }

    func run() async throws {
        OpenFiles.raiseLimit()
        guard let url = DatabaseURL(parsing: databaseUrl) else { throw ValidationError("--database-url: not a PostgreSQL URL") }
        let fans = try String(contentsOfFile: fansFile, encoding: .utf8).split(separator: "\n").map { line -> Fan in
            let field = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard field.count == 5, let gateway = URL(string: field[0]), let host = gateway.host, let place = Int64(field[4]) else {
                throw ValidationError("--fans-file: a line is not URL, source, key, token, place")
            }
            return Fan(host: host, port: gateway.port ?? 80, source: field[1] == "-" ? nil : field[1], key: field[2], token: field[3],
                       place: place)
        }
        let notices = NoticeLog()
        let connected = WakeSignal()
        let listener = NotificationListener(
            url: url, channels: [AdmissionNotice.channel], applicationName: "stagedoor-load-streams",
            logger: Logger(label: "stagedoor-load.streams"), onConnect: { connected.signal() },
            onNotification: { _, payload in notices.add(AdmissionNotice.parse(payload)) })
        let result = try await withThrowingTaskGroup(of: StreamsWorkerResult?.self) { group in
            group.addTask { try await listener.run(); return nil }
            defer { group.cancelAll() }
            await connected.wait(upTo: .seconds(30))
            return try await streamAll(fans, notices: notices)
        }
        let json = try JSONEncoder().encode(result)
        FileHandle.standardOutput.write(Data("result ".utf8) + json + Data("\n".utf8))
    }

    private func streamAll(_ fans: [Fan], notices: NoticeLog) async throws -> StreamsWorkerResult? {
        let progress = Box(Progress())
        let reporter = Task {
            var last = (-1, -1)
            while !Task.isCancelled {
                let now = progress.withLock { ($0.opened, $0.failed) }
                if now != last {
                    FileHandle.standardOutput.write(Data("progress \(now.0) \(now.1)\n".utf8))
                    last = now
                }
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
        defer { reporter.cancel() }
        var handlers: [EventStreamHandler] = []
        handlers.reserveCapacity(fans.count)
        for fan in fans {
            // At most `connecting` streams between their connect and their first event.
            while progress.withLock({ handlers.count - $0.opened - ($0.failed) }) >= connecting {
                try await Task.sleep(for: .milliseconds(2))
            }
            let opened = Counter()
            let handler = EventStreamHandler(
                host: "\(fan.host):\(fan.port)", key: fan.key, token: fan.token,
                onFirstEvent: {
                    _ = opened.next()
                    progress.withLock { $0.opened += 1 }
                },
                onEnd: { end in
                    progress.withLock { progress in
                        progress.ended += 1
                        guard case .failed(let why) = end else { return }
                        // A stream that failed after it opened leaves the opened count: it is a failure now.
                        if opened.value > 0 { progress.opened -= 1 }
                        progress.failed += 1
                        progress.failedAt.append(Date().timeIntervalSince1970)
                        if progress.samples.count < 10 { progress.samples.insert(why) }
                    }
                })
            handlers.append(handler)
            _ = EventStreamClient.open(host: fan.host, port: fan.port, source: fan.source, handler: handler)
        }
        while progress.withLock({ $0.ended }) < fans.count {
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: .milliseconds(300))  // the last notices, had a gateway been quicker than this listener

        var result = StreamsWorkerResult()
        let summary = progress.withLock { $0 }
        result.failedCount = summary.failed
        result.failureSamples = Array(summary.samples)
        result.failedAt = summary.failedAt
        let marks = notices.marks(room: room)
        /// When the first mark at or past `through` was heard.
        func heard(_ through: Int64) -> Double? {
            var low = 0, high = marks.count
            while low < high {
                let mid = (low + high) / 2
                if marks[mid].through >= through { high = mid } else { low = mid + 1 }
            }
            return low < marks.count ? marks[low].at : nil
        }
        for (fan, handler) in zip(fans, handlers) {
            guard case .finished(let status) = handler.end else { continue }
            if status == "active" { result.endedActive += 1 }
            for event in handler.events.dropFirst() {
                let mark = event.waitingPosition.map { fan.place - $0 } ?? fan.place
                guard let at = heard(mark) else {
                    result.unmatched += 1
                    continue
                }
                result.eventDelays.add(seconds: event.at - at)
                if event.waitingPosition == nil { result.turnDelays.add(seconds: event.at - at) }
            }
        }
        return result
    }
}

/// A `streams-worker` child, seen from `streams`: its progress, and its result once it exits.
final class StreamsWorkerProcess: @unchecked Sendable {
    // @unchecked: `process` is only started here and waited for on the reader thread; the rest is in `state`.
    private struct State {
        var opened = 0
        var failed = 0
        var result: StreamsWorkerResult?
        var exited = false
        var exitStatus: Int32 = 0
    }

    private let process = Process()
    private let state = Mutex(State())

    init(fansFile: String, databaseURL: String, room: Int64) throws {
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["streams-worker", "--fans-file", fansFile, "--database-url", databaseURL, "--room", String(room)]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let reading = output.fileHandleForReading
        Thread.detachNewThread { [self] in
            var pending = Data()
            while true {
                let chunk = reading.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    take(line)
                }
            }
            process.waitUntilExit()
            let status = process.terminationStatus
            state.withLock {
                $0.exited = true
                $0.exitStatus = status
            }
        }
    }

    private func take(_ line: String) {
        if line.hasPrefix("progress ") {
            let numbers = line.split(separator: " ").dropFirst().compactMap { Int($0) }
            guard numbers.count == 2 else { return }
            state.withLock {
                $0.opened = numbers[0]
                $0.failed = numbers[1]
            }
        } else if line.hasPrefix("result ") {
            let result = try? JSONDecoder().decode(StreamsWorkerResult.self, from: Data(line.dropFirst(7).utf8))
            state.withLock { $0.result = result }
        }
    }

    var opened: Int { state.withLock { $0.opened } }
    var failedCount: Int { state.withLock { $0.failed } }
    var exited: Bool { state.withLock { $0.exited } }
    var exitStatus: Int32 { state.withLock { $0.exitStatus } }
    var result: StreamsWorkerResult? { state.withLock { $0.result } }

    /// Ends the child (its streams close with it).
    func stop() {
        if process.isRunning { process.terminate() }
    }
}
