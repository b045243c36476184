/// How long a job that threw waits before its next attempt: exponential backoff with jitter.
public struct RetryPolicy: Sendable {
    /// The delay after the first failed attempt.
    public var base: Duration
    /// The longest delay.
    public var cap: Duration
    /// Relative jitter, e.g. 0.25 for ±25 %.
    public var jitter: Double

    public init(base: Duration = .seconds(1), cap: Duration = .seconds(300), jitter: Double = 0.25) {
        self.base = base
        self.cap = cap
        self.jitter = jitter
    }

    /// The delay after `attempt` failed attempts (1-based), with `unit` in 0..<1 choosing the jitter.
    /// With jitter ≤ 1/3, each delay is longer than the one before until the cap.
    public func delay(afterAttempt attempt: Int, unit: Double = Double.random(in: 0..<1)) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let raw = base * (1 << exponent)
        let bounded = min(raw, cap)
        let factor = 1 + jitter * (unit * 2 - 1)
        return bounded * factor
    }
}
