import NIOCore

/// Runs a task's jobs on one NIO event loop: with it as the task's executor preference
/// (`withTaskExecutorPreference`), every await on a connection of that loop resumes on the loop's
/// own thread, in the same tick, instead of waking a thread of the global pool and handing the
/// next statement back to the loop.
///
/// Measured on the job engine's drain (2026-12-04, batches of 100 no-op jobs, 2 loops): 22,000–
/// 25,000 jobs/s without, 30,000–31,000 with — each of a batch's four round trips is a hop less
/// each way. Only for work that does not block: the loop's other channels wait while it runs.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let loop: any EventLoop

    public init(_ loop: any EventLoop) {
        self.loop = loop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }
}
