import Logging
import ServiceLifecycle

/// The payment worker's claim loops: `concurrency` loops, each running batches back to back while
/// there is work, then sleeping until a wake-up or the jittered backstop poll.
///
/// On graceful shutdown each loop finishes (commits) the batch in hand and stops taking more.
public struct JobWorker: Service {
    let runner: JobRunner
    let wake: WakeSignal
    let concurrency: Int
    let pollInterval: Duration
    let logger: Logger

    public init(runner: JobRunner, wake: WakeSignal, concurrency: Int, pollInterval: Duration, logger: Logger) {
        self.runner = runner
        self.wake = wake
        self.concurrency = concurrency
        self.pollInterval = pollInterval
        self.logger = logger
    }

    public func run() async throws {
        let stopping = StopFlag()
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for loop in 0..<concurrency {
                    group.addTask { await claimLoop(number: loop, stopping: stopping) }
                }
            }
        } onGracefulShutdown: {
            stopping.set()
            wake.signal()
        }
        logger.info("claim loops stopped")
    }

    private func claimLoop(number: Int, stopping: StopFlag) async {
        var failures = 0
        while !stopping.isSet, !Task.isCancelled {
            let claimed: Int
            do {
                claimed = try await withAbandonableDeadline(runner.batchTimeout + .seconds(5)) { try await runner.runBatch() }
                failures = 0
            } catch {
                failures += 1
                let pause = RetryPolicy(base: .milliseconds(100), cap: .seconds(5)).delay(afterAttempt: failures)
                logger.error("batch failed", metadata: [
                    "loop": "\(number)", "error": "\(String(reflecting: error))", "retry.in": "\(pause)",
                ])
                try? await Task.sleep(for: pause)
                continue
            }
            if claimed < runner.batchSize {
                await wake.wait(upTo: pollInterval * Double.random(in: 0.8...1.2))
            }
        }
    }
}
