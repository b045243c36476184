import Foundation
import Shared
import Histogram
import Synchronization

/// What the load generator saw, per endpoint: latencies and outcomes by status and problem code.
final class Stats: Sendable {
    struct Endpoint {
        var latency = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)  // µs
        var outcomes: [String: Int] = [:]
    }

    private struct State {
        var endpoints: [String: Endpoint] = [:]
        var started = ContinuousClock.now
        var lostJobs: [String] = []
    }

    private let state = Mutex(State())

    /// Starts the clock for the rates (call after any set-up).
    func restart() { state.withLock { $0 = State() } }

    /// One answered request.
    func record(_ endpoint: String, latency: Duration, outcome: String) {
        let micros = UInt64(max(1, latency.wholeMicroseconds))
        state.withLock {
            $0.endpoints[endpoint, default: Endpoint()].latency.record(min(micros, 120_000_000))
            $0.endpoints[endpoint, default: Endpoint()].outcomes[outcome, default: 0] += 1
        }
    }

    /// A `202`'s `Location` that then answered `404`: a job id handed out for a job that does not exist.
    func lostJob(_ location: String) { state.withLock { $0.lostJobs.append(location) } }

    /// The `Location`s of ``lostJob(_:)``.
    var lostJobs: [String] { state.withLock { $0.lostJobs } }

    /// Requests so far, over every endpoint.
    var total: Int { state.withLock { $0.endpoints.values.reduce(0) { $0 + Int($1.latency.totalCount) } } }

    /// How many answers had this outcome (e.g. "201", "409 seat_unavailable"), over every endpoint.
    func count(_ outcome: String) -> Int { state.withLock { $0.endpoints.values.reduce(0) { $0 + ($1.outcomes[outcome] ?? 0) } } }

    func snapshot() -> (elapsed: Duration, endpoints: [String: Endpoint]) {
        state.withLock { (ContinuousClock.now - $0.started, $0.endpoints) }
    }

    /// One Markdown table: requests/s, p50/p95/p99 and outcomes per endpoint.
    func table(title: String) -> String {
        let (elapsed, endpoints) = snapshot()
        let seconds = max(elapsed.secondsValue, 0.001)
        var lines = ["### \(title)", "", "| endpoint | requests | requests/s | p50 ms | p95 ms | p99 ms | outcomes |", "|---|---:|---:|---:|---:|---:|---|"]
        for (name, endpoint) in endpoints.sorted(by: { $0.key < $1.key }) {
            let count = endpoint.latency.totalCount
            let outcomes = endpoint.outcomes.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            lines.append("| \(name) | \(count) | \(Int(Double(count) / seconds)) | \(Self.ms(endpoint.latency, 50)) | \(Self.ms(endpoint.latency, 95)) | \(Self.ms(endpoint.latency, 99)) | \(outcomes) |")
        }
        return lines.joined(separator: "\n")
    }

    static func ms(_ histogram: Histogram<UInt64>, _ percentile: Double) -> String {
        histogram.totalCount == 0 ? "–" : String(format: "%.1f", Double(histogram.valueAtPercentile(percentile)) / 1000)
    }
}
