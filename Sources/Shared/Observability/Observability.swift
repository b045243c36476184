import Foundation
import Logging
import Metrics
import Prometheus
import Synchronization

/// Process-wide logging and metrics bootstrap. Both systems can be bootstrapped once per process,
/// so a second call (tests build many apps in one process) is a no-op.
public enum Observability {
    private static let bootstrapped = Mutex(false)

    /// The registry `/metrics` renders.
    public static let registry = PrometheusCollectorRegistry()

    /// Sets up swift-log and swift-metrics for a process from its settings; log lines go to
    /// standard error when `logToStandardError` (a tool whose standard output is its report).
    public static func bootstrap(_ settings: Settings, logToStandardError: Bool = false) {
        let first = bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        let level = settings.logLevel
        let format = settings.logFormat
        LoggingSystem.bootstrap { label in
            LineLogHandler(label: label, logLevel: level, format: format, toStandardError: logToStandardError)
        }
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        MetricsSystem.bootstrap(factory)
    }

    /// The Prometheus text exposition of every metric.
    public static func renderMetrics() -> String {
        registry.emitToString()
    }

    /// A logger labelled `stagedoor.<process>.<component>`.
    public static func logger(_ process: String, _ component: String, level: Logger.Level? = nil) -> Logger {
        var logger = Logger(label: "stagedoor.\(process).\(component)")
        if let level { logger.logLevel = level }
        return logger
    }
}
