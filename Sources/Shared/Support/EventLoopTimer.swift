import NIOCore
import NIOPosix

/// Timers on NIO's event loops, for the per-request paths.
///
/// `Task.sleep` on Linux schedules a Dispatch timer, and cancelling the sleep does not remove that
/// timer: every request's deadline stayed in Dispatch's timer heap until it fired, seconds later,
/// and Dispatch's timer thread took about 13 % of a busy gateway's CPU (perf, 2,000 requests/s).
/// A NIO scheduled task is a heap entry on the loop that is already running the request, and
/// cancelling it removes it.
public enum EventLoopTimer {
    /// Sleeps for `duration`; throws `CancellationError` at once when the task is cancelled.
    public static func sleep(for duration: Duration) async throws {
        let scheduled = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(duration)) {}
        try await withTaskCancellationHandler {
            do {
                try await scheduled.futureResult.get()
            } catch {
                throw CancellationError()
            }
        } onCancel: {
            scheduled.cancel()
        }
    }

    /// Runs `action` after `duration` unless the returned handle is cancelled first.
    public static func schedule(after duration: Duration, _ action: @escaping @Sendable () -> Void) -> Scheduled<Void> {
        MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(duration), action)
    }
}
