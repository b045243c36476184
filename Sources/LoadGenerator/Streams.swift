import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Shared
import Synchronization

/// `stagedoor-load streams`: N fans wait in one room on live-update streams spread over the
/// gateways, held while the room is paused, then admitted at the room's rate until every stream has
/// ended at `active`; then the same N fans polling at `Retry-After` instead, in the same run.
///
/// Streams are held by child processes (`streams-worker`, at most `--per-process` each: a process
/// may not hold more open files than its hard limit). Each times the events against the
/// `admission` notices it hears itself, matching an event to the notice whose mark it shows, so a
/// delay is the gateway's fan-out and delivery, not the tick's own time. Prints the delays, the
/// gateways' memory per open stream, and the database's statements per second and per tick.
struct StreamsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streams", abstract: "Fans on live-update streams, then the same fans polling, in one room.")

    @OptionGroup var target: Target
    @Option(help: "The gateway's ADMIN_KEY (the room and its concert are made through the operator API).") var adminKey: String
    @Option(help: "Fans.") var streams = 1_000
    @Option(help: "Gateways to open streams on, comma-separated (default: --url); streams are dealt round-robin.")
    var gateways: String?
    @Option(help: "Local addresses to connect from, comma-separated (e.g. 127.0.0.1,127.0.0.2): each adds a range of ports.")
    var sources: String?
    @Option(help: "The room's admission rate, per second.") var rate: Double = 200
    @Option(help: "Seconds the streams (and the pollers) are held with the room paused before it opens.") var hold = 20
    @Option(help: "Most streams per load process.") var perProcess = 15_000
    @Option(help: "Gateway process ids, comma-separated, for their memory (default: every stagedoor-gateway process).")
    var gatewayPids: String?
    @Flag(inversion: .prefixedNo, help: "Also run the same fans polling at Retry-After.") var poll = true
    @Option(help: "HTTP connections for the pollers.") var connections = 512

    func run() async throws {
        guard streams > 0, rate > 0, hold >= 0, perProcess > 0 else { throw ValidationError("--streams, --rate, --per-process: positive") }
        guard !target.databaseUrl.isEmpty, let databaseURL = DatabaseURL(parsing: target.databaseUrl) else {
            throw ValidationError("--database-url (or DATABASE_URL) is needed: fans are written there, and the statements counted")
        }
        let urls = (gateways ?? target.url).split(separator: ",").map { String($0) }
        let sourceList = sources?.split(separator: ",").map { String($0) } ?? []
        let pids = gatewayPids.map { $0.split(separator: ",").compactMap { Int32($0) } } ?? GatewayProcesses.find()
        let http = target.client(connections: connections)
        let api = API(http: http, base: target.url, stats: Stats(), patience: .seconds(600))
        let prefix = "st" + String(UInt32.random(in: 0 ... .max), radix: 16)

        let (streamed, polled, source) = try await Fixtures.with(target.databaseUrl) { fixtures in
            let counter = try await StatementCounter(fixtures)
            let notices = NoticeLog()
            let listener = NotificationListener(
                url: databaseURL, channels: [AdmissionNotice.channel], applicationName: "stagedoor-load-notices",
                logger: Logger(label: "stagedoor-load.notices"), onConnect: {},
                onNotification: { _, payload in notices.add(AdmissionNotice.parse(payload)) })
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await listener.run() }
                defer { group.cancelAll() }
                let streamed = try await runStreams(api: api, fixtures: fixtures, counter: counter, notices: notices, urls: urls,
                                                    sources: sourceList, pids: pids, prefix: prefix + "s")
                let polled = poll
                    ? try await runPolling(api: api, fixtures: fixtures, counter: counter, notices: notices, prefix: prefix + "p")
                    : nil
                return (streamed, polled, counter.source)
            }
        }
        try await http.shutdown()
        print(report(streamed, polled, statements: source, gatewayCount: urls.count, pidCount: pids.count))
    }

    // MARK: - Streams

    struct StreamsRun {
        var opened = 0
        var failedCount = 0
        /// Failures after the room opened (the rest happened while the streams opened or were held).
        var failedAdmitting = 0
        var failed: [String] = []
        var endedActive = 0
        var memoryPerStream: Double?
        var heldStatementsPerSecond = 0.0
        var admittingStatementsPerTick = 0.0
        var ticks = 0
        var admittingSeconds = 0.0
        var eventDelays = DelayHistogram()
        var turnDelays = DelayHistogram()
        var unmatched = 0
        var processes = 0
    }

    private func runStreams(api: API, fixtures: Fixtures, counter: StatementCounter, notices: NoticeLog, urls: [String],
                            sources: [String], pids: [Int32], prefix: String) async throws -> StreamsRun {
        let room = try await pausedRoom(api)
        let fans = try await fixtures.waitingFans(prefix: prefix, count: streams, room: room)
        var run = StreamsRun()
        let memoryBefore = GatewayProcesses.residentBytes(pids)
        // Deal the fans over the processes, and within each over gateways and sources.
        let processes = (streams + perProcess - 1) / perProcess
        run.processes = processes
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stagedoor-streams-\(prefix)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var workers: [StreamsWorkerProcess] = []
        for index in 0..<processes {
            var lines = ""
            for (n, fan) in fans.enumerated() where n % processes == index {
                let url = urls[n % urls.count]
                let source = sources.isEmpty ? "-" : sources[(n / urls.count) % sources.count]
                lines += "\(url)\t\(source)\t\(fan.key)\t\(fan.token)\t\(fan.place)\n"
            }
            let file = directory.appendingPathComponent("fans-\(index).tsv")
            try lines.write(to: file, atomically: true, encoding: .utf8)
            workers.append(try StreamsWorkerProcess(fansFile: file.path, databaseURL: target.databaseUrl, room: room))
        }
        FileHandle.standardError.write(Data("opening \(streams) streams in \(processes) load process(es)…\n".utf8))
        let openedAll = await until(timeout: .seconds(600)) {
            workers.map(\.opened).reduce(0, +) + workers.map(\.failedCount).reduce(0, +) >= streams || workers.allSatisfy(\.exited)
        }
        guard openedAll else { throw FixtureError("the streams did not all open within 10 minutes") }
        try await Task.sleep(for: .seconds(3))  // settle before reading memory
        run.opened = workers.map(\.opened).reduce(0, +)
        if let before = memoryBefore, let after = GatewayProcesses.residentBytes(pids), run.opened > 0 {
            run.memoryPerStream = Double(after - before) / Double(run.opened)
        }
        FileHandle.standardError.write(Data("\(run.opened) open; holding \(hold) s with the room paused…\n".utf8))
        let heldFrom = (try await counter.count(), ContinuousClock.now)
        try await Task.sleep(for: .seconds(hold))
        let heldTo = (try await counter.count(), ContinuousClock.now)
        run.heldStatementsPerSecond = Double(heldTo.0 - heldFrom.0) / (heldTo.1 - heldFrom.1).secondsValue

        FileHandle.standardError.write(Data("admitting at \(rate)/s…\n".utf8))
        let opened = Date().timeIntervalSince1970
        let admittingFrom = (try await counter.count(), ContinuousClock.now)
        try await setState(api, room: room, "open")
        let ended = await until(timeout: .seconds(Double(streams) / rate * 3 + 120)) { workers.allSatisfy(\.exited) }
        let admittingTo = (try await counter.count(), ContinuousClock.now)
        if !ended { workers.forEach { $0.stop() } }
        run.ticks = notices.changes(room: room, since: opened)
        run.admittingSeconds = (admittingTo.1 - admittingFrom.1).secondsValue
        run.admittingStatementsPerTick = Double(admittingTo.0 - admittingFrom.0) / Double(max(run.ticks, 1))
        for worker in workers {
            guard let result = worker.result else {
                run.failedCount += 1
                run.failed.append("a load process ended without a result (exit \(worker.exitStatus))")
                continue
            }
            run.endedActive += result.endedActive
            run.failedCount += result.failedCount
            run.failedAdmitting += result.failedAt.filter { $0 >= opened }.count
            run.failed += result.failureSamples
            run.unmatched += result.unmatched
            run.eventDelays.merge(result.eventDelays)
            run.turnDelays.merge(result.turnDelays)
        }
        return run
    }

    // MARK: - Polling

    struct PollRun {
        var fans = 0
        var failed: [String] = []
        var endedActive = 0
        var heldStatementsPerSecond = 0.0
        var admittingStatementsPerTick = 0.0
        var heldPollsPerSecond = 0.0
        var admittingPollsPerSecond = 0.0
        var ticks = 0
        var turnDelays = DelayHistogram()
    }

    private func runPolling(api: API, fixtures: Fixtures, counter: StatementCounter, notices: NoticeLog, prefix: String) async throws -> PollRun {
        let room = try await pausedRoom(api)
        let fans = try await fixtures.waitingFans(prefix: prefix, count: streams, room: room)
        let tally = PollTally()
        let (polls, seenActive, failures) = (tally.polls, tally.seenActive, tally.failures)
        FileHandle.standardError.write(Data("\(fans.count) fans polling; holding \(hold) s with the room paused…\n".utf8))
        var run = PollRun(fans: fans.count)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for fan in fans {
                group.addTask {
                    do {
                        while true {
                            let answer = try await api.call("GET /v1/queue/tokens/current", .GET, "/v1/queue/tokens/current",
                                                            key: fan.key, token: fan.token)
                            _ = polls.next()
                            guard answer.status == 200, let status = answer["status"] as? String else {
                                throw FixtureError("poll: \(answer.outcome)")
                            }
                            guard status == "waiting" else {
                                if status == "active" {
                                    seenActive.withLock { $0.append((fan.place, Date().timeIntervalSince1970)) }
                                } else {
                                    throw FixtureError("a poller ended \(status)")
                                }
                                return
                            }
                            let wait = answer.headers.first(name: "Retry-After").flatMap(Int.init) ?? 1
                            try await Task.sleep(for: .seconds(wait))
                        }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
            }
            // Polls start at once; measure the hold after the first round has been answered.
            _ = await until(timeout: .seconds(300)) { polls.value >= fans.count }
            let heldFrom = (try await counter.count(), ContinuousClock.now, polls.value)
            try await Task.sleep(for: .seconds(hold))
            let heldTo = (try await counter.count(), ContinuousClock.now, polls.value)
            let heldSeconds = (heldTo.1 - heldFrom.1).secondsValue
            run.heldStatementsPerSecond = Double(heldTo.0 - heldFrom.0) / heldSeconds
            run.heldPollsPerSecond = Double(heldTo.2 - heldFrom.2) / heldSeconds
            FileHandle.standardError.write(Data("admitting the pollers at \(rate)/s…\n".utf8))
            let opened = Date().timeIntervalSince1970
            let from = (try await counter.count(), ContinuousClock.now, polls.value)
            try await setState(api, room: room, "open")
            try await group.waitForAll()
            let to = (try await counter.count(), ContinuousClock.now, polls.value)
            run.ticks = notices.changes(room: room, since: opened)
            run.admittingStatementsPerTick = Double(to.0 - from.0) / Double(max(run.ticks, 1))
            run.admittingPollsPerSecond = Double(to.2 - from.2) / (to.1 - from.1).secondsValue
        }
        run.failed = failures.withLock { $0 }
        let marks = notices.marks(room: room)
        for (place, at) in seenActive.withLock({ $0 }) {
            run.endedActive += 1
            if let tick = marks.first(where: { $0.through >= place }) { run.turnDelays.add(seconds: at - tick.at) }
        }
        return run
    }

    // MARK: - Fixtures and the report

    private func pausedRoom(_ api: API) async throws -> Int64 {
        let concert = try await RoomFixtures.concert(api, adminKey: adminKey)
        let room = try await RoomFixtures.room(api, adminKey: adminKey, concert: concert, rate: rate, opensAt: nil)
        try await setState(api, room: room, "paused")
        return room
    }

    private func setState(_ api: API, room: Int64, _ state: String) async throws {
        let answer = try await api.call("PATCH /v1/admin/rooms/{id}", .PATCH, "/v1/admin/rooms/\(room)", key: adminKey,
                                        body: "{\"state\": \"\(state)\"}")
        guard answer.status == 200 else { throw FixtureError("could not set room \(room) \(state): \(answer.outcome)") }
    }

    private func report(_ s: StreamsRun, _ p: PollRun?, statements: String, gatewayCount: Int, pidCount: Int) -> String {
        func f(_ value: Double, _ digits: Int = 0) -> String { String(format: "%.\(digits)f", value) }
        func percentiles(_ h: DelayHistogram) -> String { h.count == 0 ? "—" : "\(h.percentile(0.5)) / \(h.percentile(0.99))" }
        let memory = s.memoryPerStream.map { f($0 / 1024, 1) } ?? "— (no gateway process found)"
        var lines = [
            "### Live updates: \(streams) fans, \(gatewayCount) gateway(s), room at \(f(rate))/s, held \(hold) s paused — \(Self.dateText())",
            "",
            "Statements counted by \(statements); delays from the `admission` notice each load process hears to",
            "the event (or poll answer) that shows its mark. \(s.processes) load process(es) held the streams.",
            "",
            "| | streams | polling at Retry-After |",
            "|---|---:|---:|",
            "| fans that ended `active` | \(s.endedActive) of \(streams) | \(p.map { "\($0.endedActive) of \($0.fans)" } ?? "—") |",
            "| failures (while opening and held / while admitting) | \(s.failedCount - s.failedAdmitting) / \(s.failedAdmitting) | \(p.map { String($0.failed.count) } ?? "—") |",
            "| tick → event, every event, p50 / p99 (ms) | \(percentiles(s.eventDelays)) | — |",
            "| tick → the fan sees its turn, p50 / p99 (ms) | \(percentiles(s.turnDelays)) | \(p.map { percentiles($0.turnDelays) } ?? "—") |",
            "| gateway memory per open stream (KB, \(pidCount) process(es)) | \(memory) | — |",
            "| statements/s while held (room paused) | \(f(s.heldStatementsPerSecond, 1)) | \(p.map { f($0.heldStatementsPerSecond, 1) } ?? "—") |",
            "| polls/s while held | 0 | \(p.map { f($0.heldPollsPerSecond, 1) } ?? "—") |",
            "| statements per tick while admitting | \(f(s.admittingStatementsPerTick, 1)) | \(p.map { f($0.admittingStatementsPerTick, 1) } ?? "—") |",
            "| polls/s while admitting | 0 | \(p.map { f($0.admittingPollsPerSecond, 1) } ?? "—") |",
            "| ticks that moved the line | \(s.ticks) | \(p.map { String($0.ticks) } ?? "—") |",
        ]
        if s.unmatched > 0 { lines.append("\n\(s.unmatched) events showed a mark no notice heard by their load process announced.") }
        for failure in Array(Set(s.failed + (p?.failed ?? []))).prefix(5) { lines.append("\nfailure: \(failure)") }
        return lines.joined(separator: "\n")
    }

    static func dateText() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date()) + " UTC"
    }

    /// Waits until `done` holds (checked every 100 ms) or `timeout` passes; whether it held.
    private func until(timeout: Duration, _ done: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !done() {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return true
    }
}
