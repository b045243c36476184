import Synchronization

/// A request budget per API key, in this gateway: `rate` requests per second, bursts up to twice
/// that (a token bucket per key digest). Beyond it a client gets `429 rate_limited` with
/// `Retry-After`, before any database work. Each gateway keeps its own budgets, so behind a load
/// balancer over N gateways a key's budget is up to N times `rate`.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var refilledAt: ContinuousClock.Instant
    }

    private let rate: Double
    private let burst: Double
    private let buckets = Mutex<[KeyDigest: Bucket]>([:])
    private let capacity = 200_000

    /// A limiter allowing `rate` requests per second per key; 0 = no limit.
    init(rate: Double) {
        self.rate = rate
        burst = max(1, rate * 2)
    }

    /// Spends one request of this key's budget, or throws `429 rate_limited`.
    func spend(digest: [UInt8]) throws {
        guard rate > 0 else { return }
        let now = ContinuousClock.now
        let key = KeyDigest(digest)
        let wait: Double? = buckets.withLock { buckets in
            if buckets.count >= capacity { buckets.removeAll(keepingCapacity: true) }
            var bucket = buckets[key] ?? Bucket(tokens: burst, refilledAt: now)
            bucket.tokens = min(burst, bucket.tokens + bucket.refilledAt.duration(to: now).secondsValue * rate)
            bucket.refilledAt = now
            defer { buckets[key] = bucket }
            guard bucket.tokens >= 1 else { return (1 - bucket.tokens) / rate }
            bucket.tokens -= 1
            return nil
        }
        if let wait { throw Problem.rateLimited(retryAfter: max(1, Int(wait.rounded(.up)))) }
    }

    /// Gives back one request that ``spend(digest:)`` took (its request will be counted again).
    func refund(digest: [UInt8]) {
        guard rate > 0 else { return }
        buckets.withLock { buckets in
            guard var bucket = buckets[KeyDigest(digest)] else { return }
            bucket.tokens = min(burst, bucket.tokens + 1)
            buckets[KeyDigest(digest)] = bucket
        }
    }
}
