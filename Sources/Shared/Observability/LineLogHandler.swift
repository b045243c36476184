import Foundation
import Logging

/// Writes one line per log event to standard output (or error), in the process's `LOG_FORMAT`:
/// - `text`, as swift-log's `StreamLogHandler` writes it: `<time> <level> <label>: <key=value …> [<source>] <message>`;
/// - `json`, one object per line: `ts`, `level`, `logger`, `msg`, and the metadata.
///
/// Metadata is formatted only when a line is written. `StreamLogHandler` formats it whenever a key
/// is set, and Hummingbird sets one (`hb.request.id`) on every request: about 2 % of a busy
/// gateway's CPU in a profile of 2026-12-02, for lines mostly never written.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let format: Settings.LogFormat
    private let output: FileHandle

    /// A handler writing to standard output, or to standard error when `toStandardError` (a tool
    /// whose standard output is its report).
    public init(label: String, logLevel: Logger.Level, format: Settings.LogFormat, toStandardError: Bool = false) {
        self.label = label
        self.logLevel = logLevel
        self.format = format
        output = toStandardError ? .standardError : .standardOutput
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let explicit = event.metadata { all.merge(explicit) { _, explicit in explicit } }
        if let error = event.error {
            all["error.message"] = "\(error)"
            all["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        switch format {
        case .text:
            let pairs = all.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
            let line = "\(Self.localTimestamp()) \(event.level) \(label):\(pairs) [\(event.source)] \(event.message)\n"
            output.write(Data(line.utf8))
        case .json:
            var object: [String: String] = [:]
            for (key, value) in all { object[key] = "\(value)" }
            object["ts"] = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
            object["level"] = event.level.rawValue
            object["logger"] = label
            object["msg"] = "\(event.message)"
            guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
            output.write(data + Data([0x0A]))
        }
    }

    /// Local time to the second with its UTC offset, as `StreamLogHandler` writes it.
    private static func localTimestamp() -> String {
        var now = time(nil)
        var local = tm()
        guard localtime_r(&now, &local) != nil else { return "<unknown>" }
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
