import NIOCore
import NIOPosix
import Shared
import Synchronization
import Testing
import TestSupport

@testable import Gateway

/// The gateway's in-memory line: which notices wake which streams, and the keep-alive sweep.
@Suite("Live line")
struct LiveLineTests {
    static func notice(room: Int64, through: Int64, state: String = "open") -> AdmissionNotice {
        AdmissionNotice(roomID: room, admittedThrough: through, state: state, admitPerSecond: 10)
    }

    @Test("a notice wakes only its room's streams, and only when the mark moves forward or the state changes")
    func noticesWakeTheirRoom() async throws {
        let line = LiveLine(maxStreams: 10)
        line.apply([Self.notice(room: 1, through: 5), Self.notice(room: 2, through: 5)])
        let first = try #require(line.open(tokenID: 1, roomID: 1))
        let other = try #require(line.open(tokenID: 2, roomID: 2))
        let waiting = Task { await line.wait(first, seen: 0) }
        let bystander = Task { await line.wait(other, seen: 0) }
        try await Task.sleep(for: .milliseconds(50))
        // Behind or the same: nothing moves.
        line.apply([Self.notice(room: 1, through: 4), Self.notice(room: 1, through: 5)])
        line.apply([Self.notice(room: 1, through: 9)])
        let woken = await waiting.value
        #expect(woken.wake == .moved && woken.changes == 1)
        #expect(line.mark(room: 1)?.admittedThrough == 9)
        // A state change at the same mark is news too.
        let again = Task { await line.wait(first, seen: 1) }
        try await Task.sleep(for: .milliseconds(50))
        line.apply([Self.notice(room: 1, through: 9, state: "paused")])
        #expect(await again.value.changes == 2)
        line.close(other)
        #expect(await bystander.value.wake == .closed)
        #expect(line.openCount == 1)
    }

    @Test("the keep-alive sweep ends only the waits that have lasted the keep-alive interval")
    func keepAliveSweep() async throws {
        let line = LiveLine(maxStreams: 10, keepAlive: .milliseconds(300))
        let old = try #require(line.open(tokenID: 1, roomID: 1))
        let young = try #require(line.open(tokenID: 2, roomID: 1))
        /// Waits (up to 10 s) until `count` streams wait: a task may start its wait late on a busy machine.
        func waiting(_ count: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(10)
            while line.waitingCount < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
            try #require(line.waitingCount == count)
        }
        let oldWait = Task { await line.wait(old, seen: 0) }
        try await waiting(1)
        line.wakeQuiet()  // just started: not due
        #expect(line.waitingCount == 1)
        try await Task.sleep(for: .milliseconds(350))
        let youngWait = Task { await line.wait(young, seen: 0) }
        try await waiting(2)
        line.wakeQuiet()  // the first has waited 350 ms, the second just started
        #expect(await oldWait.value.wake == .quiet)
        #expect(line.waitingCount == 1)
        line.closeAll()
        #expect(await youngWait.value.wake == .shuttingDown)
    }

    /// A stream served on an event loop that records its wakes.
    final class RecordingSink: LiveSink {
        let eventLoop: any EventLoop
        let wakes = Mutex<[LiveLine.Wake]>([])
        init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }
        func wake(_ wake: LiveLine.Wake) {
            eventLoop.preconditionInEventLoop()
            wakes.withLock { $0.append(wake) }
        }
        var seen: [LiveLine.Wake] { wakes.withLock { $0 } }
    }

    @Test("streams served on event loops are called on their own loop: a notice for their room (moved), the keep-alive sweep once their last news is due (quiet), shutdown")
    func sinks() async throws {
        let line = LiveLine(maxStreams: 10, keepAlive: .seconds(2))
        let group = MultiThreadedEventLoopGroup.singleton
        let inRoom = (0..<4).map { _ in RecordingSink(group.next()) }
        let elsewhere = RecordingSink(group.next())
        for sink in inRoom { _ = try #require(line.open(tokenID: 1, roomID: 1, sink: sink)) }
        _ = try #require(line.open(tokenID: 2, roomID: 2, sink: elsewhere))
        line.apply([Self.notice(room: 1, through: 5)])
        line.apply([Self.notice(room: 1, through: 5)])  // the same: no news
        #expect(await eventually { inRoom.allSatisfy { $0.seen == [LiveLine.Wake.moved] } })
        #expect(elsewhere.seen.isEmpty)
        // Not yet due: the room's streams had news just now; the other one opened as long ago.
        try await Task.sleep(for: .milliseconds(1_200))
        line.apply([Self.notice(room: 1, through: 6)])
        try await Task.sleep(for: .milliseconds(1_000))
        line.wakeQuiet()
        #expect(await eventually { elsewhere.seen == [LiveLine.Wake.quiet] })
        try await Task.sleep(for: .milliseconds(50))
        #expect(inRoom.allSatisfy { $0.seen == [LiveLine.Wake.moved, .moved] })
        line.closeAll()
        #expect(await eventually { (inRoom + [elsewhere]).allSatisfy { $0.seen.last == LiveLine.Wake.shuttingDown } })
        #expect(line.open(tokenID: 3, roomID: 1, sink: RecordingSink(group.next())) == nil)
    }
}
