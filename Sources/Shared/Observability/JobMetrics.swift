import Metrics

/// The job engine's metric names, in one place. Exposed on each worker's `/metrics`.
public enum JobMetrics {
    /// `stagedoor_jobs_queued`: jobs waiting to run (gauge, sampled by the worker).
    public static let queued = Gauge(label: "stagedoor_jobs_queued")
    /// `stagedoor_jobs_oldest_age_seconds`: age of the oldest runnable job (gauge).
    public static let oldestAge = Gauge(label: "stagedoor_jobs_oldest_age_seconds")
    /// `stagedoor_jobs_dead`: dead jobs kept for operators (gauge).
    public static let deadCount = Gauge(label: "stagedoor_jobs_dead")
    /// `stagedoor_job_batch_fallbacks_total`: batches rerun with a savepoint per job after a throw.
    public static let fallbacks = Counter(label: "stagedoor_job_batch_fallbacks_total")

    /// `stagedoor_job_wait_seconds{kind}`: enqueue → start of the attempt that finished it.
    public static func wait(kind: JobKind) -> Metrics.Timer { waits(kind) }
    private static let waits = MadeOnce { (kind: JobKind) in
        Metrics.Timer(label: "stagedoor_job_wait_seconds", dimensions: [("kind", kind.rawValue)], preferredDisplayUnit: .seconds)
    }

    /// `stagedoor_job_run_seconds{kind}`: time a handler took.
    public static func run(kind: JobKind) -> Metrics.Timer { runs(kind) }
    private static let runs = MadeOnce { (kind: JobKind) in
        Metrics.Timer(label: "stagedoor_job_run_seconds", dimensions: [("kind", kind.rawValue)], preferredDisplayUnit: .seconds)
    }

    /// `stagedoor_gateway_enqueue_seconds{kind}` (gateway): a write's enqueue, from joining a batch to
    /// its commit — how long requests queue for the job table.
    public static func enqueue(kind: JobKind) -> Metrics.Timer { enqueues(kind) }
    private static let enqueues = MadeOnce { (kind: JobKind) in
        Metrics.Timer(label: "stagedoor_gateway_enqueue_seconds", dimensions: [("kind", kind.rawValue)], preferredDisplayUnit: .seconds)
    }

    /// `stagedoor_gateway_reply_wait_seconds{kind}` (gateway): enqueued → outcome in hand (or the
    /// `REPLY_TIMEOUT`): the worker's wait and run plus the `job_done` delivery.
    public static func replyWait(kind: JobKind) -> Metrics.Timer { replyWaits(kind) }
    private static let replyWaits = MadeOnce { (kind: JobKind) in
        Metrics.Timer(label: "stagedoor_gateway_reply_wait_seconds", dimensions: [("kind", kind.rawValue)], preferredDisplayUnit: .seconds)
    }

    /// `stagedoor_jobs_finished_total{kind,status}`: outcomes by HTTP status (2xx and 4xx refusals).
    public static func outcome(kind: JobKind, status: Int) -> Counter { outcomes(KindStatus(kind: kind, status: status)) }
    struct KindStatus: Hashable, Sendable { let kind: JobKind; let status: Int }
    private static let outcomes = MadeOnce { (key: KindStatus) in
        Counter(label: "stagedoor_jobs_finished_total", dimensions: [("kind", key.kind.rawValue), ("status", String(key.status))])
    }

    /// `stagedoor_gateway_refused_at_enqueue_total{kind,status}` (gateway): jobs stored finished by
    /// their enqueue's seat check, never run by a worker (so not in `stagedoor_jobs_finished_total`).
    public static func refusedAtEnqueue(kind: JobKind, status: Int) -> Counter { enqueueRefusals(KindStatus(kind: kind, status: status)) }
    private static let enqueueRefusals = MadeOnce { (key: KindStatus) in
        Counter(label: "stagedoor_gateway_refused_at_enqueue_total", dimensions: [("kind", key.kind.rawValue), ("status", String(key.status))])
    }

    /// Makes every per-kind series of a runner of `kinds` exist from the start, at zero: a counter
    /// that first appears at its first event gives `rate()` and `increase()` nothing to compare.
    public static func prepare(kinds: [JobKind]) {
        _ = fallbacks
        for kind in kinds {
            _ = wait(kind: kind)
            _ = run(kind: kind)
            _ = retries(kind: kind)
            _ = dead(kind: kind)
        }
    }

    /// `stagedoor_job_retries_total{kind}`: attempts that threw and were rescheduled.
    public static func retries(kind: JobKind) -> Counter {
        Counter(label: "stagedoor_job_retries_total", dimensions: [("kind", kind.rawValue)])
    }

    /// `stagedoor_jobs_dead_total{kind}`: jobs that used up their attempts.
    public static func dead(kind: JobKind) -> Counter {
        Counter(label: "stagedoor_jobs_dead_total", dimensions: [("kind", kind.rawValue)])
    }
}
