import Foundation
import Shared
import Histogram

/// One line of the benchmark table.
struct ReportRow {
    var scenario: String
    var jobs: Int?
    var rate: Double
    var p50: Duration?
    var p99: Duration?
    /// Jobs/s over the pgbench run just before it (same client count), when there was one.
    var ratio: Double?

    init(scenario: String, jobs: Int?, rate: Double, latencies: [Double]? = nil) {
        self.scenario = scenario
        self.jobs = jobs
        self.rate = rate
        if let latencies, !latencies.isEmpty {
            var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            for seconds in latencies { histogram.record(UInt64(max(seconds, 0) * 1_000_000)) }
            p50 = .microseconds(Int64(histogram.valueAtPercentile(50)))
            p99 = .microseconds(Int64(histogram.valueAtPercentile(99)))
        }
    }

    /// A Markdown table with the machine and date.
    static func table(_ rows: [ReportRow], title: String) -> String {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let memory = ProcessInfo.processInfo.physicalMemory / 1_073_741_824
        let date = ISO8601DateFormatter().string(from: Date()).prefix(10)
        var lines = [
            "### \(title) — \(date), \(cores) cores, \(memory) GiB, everything on one machine",
            "",
            "| scenario | jobs | per second | vs pgbench (same round) | enqueue→start p50 | p99 |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for row in rows {
            lines.append("| \(row.scenario) | \(row.jobs.map(String.init) ?? "–") | \(Int(row.rate.rounded())) | \(row.ratio.map(Self.ratio) ?? "–") | \(format(row.p50)) | \(format(row.p99)) |")
        }
        return lines.joined(separator: "\n")
    }

    /// `1.07×`.
    static func ratio(_ value: Double) -> String { String(format: "%.2f×", value) }

    private static func format(_ duration: Duration?) -> String {
        guard let duration else { return "–" }
        let ms = duration.secondsValue * 1000
        return String(format: "%.2f ms", ms)
    }
}
