import AsyncHTTPClient
import ArgumentParser
import Foundation
import Shared
import Histogram
import Synchronization

/// `stagedoor-load reserve`: end-to-end reservations of distinct seats over HTTP — closed loop
/// with N connections, or open loop at a fixed rate (latency from the intended send time).
struct ReserveBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reserve", abstract: "Reservations/s on distinct seats, p50/p99 (fixtures written to the database).")

    @OptionGroup var target: Target
    @Option(help: "Connections (closed loop) or the most requests in flight (paced).") var connections = 64
    @Option(help: "Seconds to run.") var seconds = 10
    @Option(help: "Requests per second (open loop); unset = as fast as the connections go.") var rate: Int?
    @Option(help: "Users with active tokens to spread the requests over.") var users = 20_000
    @Option(help: "Name of the fixtures: a second run with the same name reuses them and books the seats after the last run's.")
    var fixtures: String?
    @Flag(help: "Open loop: also print each second's p50, p99 and max (where in the run the tail was).") var timeline = false

    func run() async throws {
        let seatsPerSchedule = 1000
        // Seats for twice what the run can book: a closed loop on this machine books 5,000–7,000 a
        // second (2026-12-04), and wrk's scripts stop with "out of seats" when a run books them all.
        let needed = max(30_000, (rate ?? 6_000) * max(seconds, 10) * 2)
        let name = fixtures ?? "r\(UInt32.random(in: 0...UInt32.max))"
        let (people, schedules, booked) = try await Fixtures.with(target.databaseUrl) { db in
            let schedules = try await db.concert(named: name, schedules: (needed + seatsPerSchedule - 1) / seatsPerSchedule,
                                                 seats: seatsPerSchedule, price: 100)
            return (try await db.activeUsers(prefix: name, count: users), schedules, try await db.reservations(in: schedules))
        }
        guard seconds > 0 else { return }  // fixtures only
        let stats = Stats()
        let http = target.client(connections: connections)
        let api = API(http: http, base: target.url, stats: stats, patience: .seconds(30))
        let next = Counter(startingAt: booked)
        let capacity = schedules.count * seatsPerSchedule
        @Sendable func reserve() async {
            let index = next.next()
            guard index < capacity else { return }
            let user = people[index % people.count]
            _ = try? await api.call("POST /v1/reservations", .POST, "/v1/reservations", key: user.key, token: user.token,
                                    body: "{\"scheduleId\": \(schedules[index / seatsPerSchedule]), \"seatNo\": \(index % seatsPerSchedule + 1)}")
        }
        stats.restart()
        let end = ContinuousClock.now + .seconds(seconds)
        let progress = Progress(stats: stats)
        if let rate {
            // Open loop: request k is due at start + k/rate; its latency counts from then.
            let start = ContinuousClock.now
            let paced = PacedLatency()
            await withDiscardingTaskGroup { group in
                var k = 0
                while ContinuousClock.now < end {
                    let due = start + .nanoseconds(Int64(k) * 1_000_000_000 / Int64(rate))
                    if due > ContinuousClock.now { try? await Task.sleep(until: due, clock: .continuous) }
                    let second = k / rate
                    k += 1
                    group.addTask {
                        await reserve()
                        paced.record(ContinuousClock.now - due, second: second)
                    }
                }
            }
            progress.finish()
            print(stats.table(title: "Reservations over HTTP, open loop at \(rate)/s for \(seconds) s"))
            print("")
            print("latency from the intended send time: p50 \(paced.ms(50)) ms, p99 \(paced.ms(99)) ms (\(paced.count) requests)")
            if timeline { print(paced.timeline()) }
        } else {
            await withDiscardingTaskGroup { group in
                for _ in 0..<connections {
                    group.addTask { while ContinuousClock.now < end { await reserve() } }
                }
            }
            progress.finish()
            print(stats.table(title: "Reservations over HTTP, \(connections) connections, \(seconds) s"))
        }
        try await http.shutdown()
    }
}

/// `stagedoor-load hot-seat`: N users ask for the same seat at once.
struct HotSeatBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hot-seat", abstract: "N concurrent reservations of one seat: time until all are answered, and winners.")

    @OptionGroup var target: Target
    @Option(help: "Requests, one per user.") var requests = 10_000
    @Option(help: "HTTP connections.") var connections = 256

    func run() async throws {
        let prefix = "h\(UInt32.random(in: 0...UInt32.max))"
        let (people, schedules) = try await Fixtures.with(target.databaseUrl) { db in
            (try await db.activeUsers(prefix: prefix, count: requests), try await db.concert(named: prefix, schedules: 1, seats: 50, price: 100))
        }
        let stats = Stats()
        let http = target.client(connections: connections)
        let api = API(http: http, base: target.url, stats: stats, patience: .seconds(60))
        let body = "{\"scheduleId\": \(schedules[0]), \"seatNo\": 1}"
        stats.restart()
        let started = ContinuousClock.now
        let unanswered = Counter()
        await withDiscardingTaskGroup { group in
            for user in people {
                group.addTask {
                    do { _ = try await api.call("POST /v1/reservations", .POST, "/v1/reservations", key: user.key, token: user.token, body: body) }
                    catch { _ = unanswered.next() }
                }
            }
        }
        let elapsed = ContinuousClock.now - started
        print(stats.table(title: "Hot seat: \(requests) reservations of one seat, \(connections) connections"))
        print("")
        print("all answered after \(elapsed.formatted(.units(allowed: [.seconds, .milliseconds]))); winners: \(stats.count("201")); " +
              "seat_unavailable: \(stats.count("409 seat_unavailable")); unanswered: \(unanswered.value)")
        try await http.shutdown()
    }
}

/// Latencies from intended send times, for the open-loop mode.
final class PacedLatency: Sendable {
    private struct State {
        var all = PacedLatency.histogram()
        /// By the second (since the start) each request was due in: where in the run the tail happened.
        var bySecond: [Int: Histogram<UInt64>] = [:]
    }

    private let state = Mutex(State())

    private static func histogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
    }

    /// Records a request due `second` seconds into the run, answered `latency` after it was due.
    func record(_ latency: Duration, second: Int) {
        let micros = min(UInt64(max(1, latency.wholeMicroseconds)), 120_000_000)
        state.withLock { state in
            _ = state.all.record(micros)
            _ = state.bySecond[second, default: Self.histogram()].record(micros)
        }
    }

    var count: UInt64 { state.withLock { $0.all.totalCount } }
    func ms(_ percentile: Double) -> String { state.withLock { Stats.ms($0.all, percentile) } }

    /// One line per second of the run: its requests' p50, p99 and max.
    func timeline() -> String {
        state.withLock { state in
            state.bySecond.keys.sorted().map { second in
                let h = state.bySecond[second]!
                return "second \(second): p50 \(Stats.ms(h, 50)) ms, p99 \(Stats.ms(h, 99)) ms, max \(Stats.ms(h, 100)) ms"
            }.joined(separator: "\n")
        }
    }
}

/// A shared counter.
final class Counter: Sendable {
    private let atomic: Atomic<Int>
    init(startingAt start: Int = 0) { atomic = Atomic(start) }
    /// The value before this call's increment.
    func next() -> Int { atomic.wrappingAdd(1, ordering: .relaxed).oldValue }
    var value: Int { atomic.load(ordering: .relaxed) }
}
