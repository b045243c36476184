import Foundation

/// One of the project's executables, started as a real process for a test.
public final class RunningProcess: @unchecked Sendable {
    // @unchecked: `process` is only touched through its own thread-safe API after launch.
    private let process: Process
    /// Where the process's stdout and stderr go.
    public let logFile: URL

    /// The directory with the built executables (`.build/debug`).
    public static var binDirectory: URL {
        Checkout.url(".build/debug")
    }

    /// Starts `executable` (e.g. `stagedoor-queue-worker`) with `environment` added to a minimal one.
    public init(_ executable: String, environment: [String: String], arguments: [String] = []) throws {
        process = Process()
        process.executableURL = Self.binDirectory.appendingPathComponent(executable)
        process.arguments = arguments
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        env.merge(environment) { _, new in new }
        process.environment = env
        logFile = FileManager.default.temporaryDirectory.appendingPathComponent("stagedoor-\(executable)-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logFile)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// Everything the process has written so far.
    public var output: String {
        (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
    }

    /// The process id.
    public var pid: Int32 { process.processIdentifier }

    /// Whether it still runs.
    public var isRunning: Bool { process.isRunning }

    /// Sends `signal` (SIGTERM, SIGKILL, …).
    public func send(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the exit, up to `timeout`; returns the exit status, or nil if it is still running.
    public func waitForExit(timeout: Duration = .seconds(30)) async -> Int32? {
        let exited = await eventually(timeout: timeout) { !self.process.isRunning }
        return exited ? process.terminationStatus : nil
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: logFile)
    }
}
