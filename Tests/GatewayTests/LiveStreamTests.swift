import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import Gateway

/// A stream served on its connection's event loop (``LiveStream``), driven through an embedded
/// channel: what it writes as the line moves, and while its client does not read.
@Suite("Live stream on an event loop")
struct LiveStreamTests {
    /// A token waiting at place 100 in room 1, with the room's mark at `through`.
    static func waitingRow(through: Int64) -> TokenRow {
        TokenRow(id: 1, userID: 7, roomID: 1, place: 100, status: "waiting", activatedAt: nil, expiresAt: nil,
                 lastSeenAt: Date(), salt: [], now: Date(), roomState: "open", opensAt: nil, admittedThrough: through,
                 admitPerSecond: 10, idleTTL: 120, effectiveStatus: "waiting")
    }

    /// The token events among the parts the channel wrote since the last call.
    static func events(_ channel: EmbeddedChannel) throws -> [(id: Int, json: [String: Any])] {
        var text = ""
        while let part = try channel.readOutbound(as: HTTPResponsePart.self) {
            if case .body(let buffer) = part { text += String(buffer: buffer) }
        }
        return tokenEvents(in: text)
    }

    @Test("a client that stops reading is sent nothing while it does not; once it reads again, one event shows the token as it is then; once closed, nothing holds the stream")
    func clientThatStopsReading() throws {
        // Never connected to: the stream reads the database only when admission reaches its place.
        let client = PostgresClient(configuration: .init(host: "127.0.0.1", port: 9, username: "none", password: nil, database: nil, tls: .disable))
        let database = GatewayDatabase(client: client, replicas: nil, deadline: .seconds(1), logger: Logger(label: "test"))
        let line = LiveLine(maxStreams: 10)
        line.apply([AdmissionNotice(roomID: 1, admittedThrough: 0, state: "open", admitPerSecond: 10)])
        let channel = EmbeddedChannel()
        let door = FirstRequestHandler(eventLoop: channel.eventLoop)
        try channel.pipeline.syncOperations.addHandler(door)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "http", authority: "gateway", path: Routes.tokenEvents)))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        let first = try #require(try door.first.futureResult.wait(), "no decision")
        guard case .stream = first else { Issue.record("not taken for a stream: \(first)"); return }

        weak var stream: LiveStream?
        do {
            let opened = try #require(door.stream(line: line, tokens: TokenStore(database: database), userID: 7))
            stream = opened
            let id = try #require(line.open(tokenID: 1, roomID: 1, sink: opened))
            door.streamStarted()
            opened.start(id: id, first: Self.waitingRow(through: 0), token: "t", serverName: "test")
        }
        guard case .head(let head) = try #require(try channel.readOutbound(as: HTTPResponsePart.self)) else {
            Issue.record("no head first"); return
        }
        #expect(head.status == .ok && head.headerFields[.contentType] == "text/event-stream")
        #expect(try Self.events(channel).map { $0.json["position"] as? Int } == [100])

        line.apply([AdmissionNotice(roomID: 1, admittedThrough: 10, state: "open", admitPerSecond: 10)])
        channel.embeddedEventLoop.run()
        #expect(try Self.events(channel).map { $0.json["position"] as? Int } == [90])

        // The client stops reading: two ticks, nothing written.
        channel.isWritable = false
        for through: Int64 in [20, 30] {
            line.apply([AdmissionNotice(roomID: 1, admittedThrough: through, state: "open", admitPerSecond: 10)])
            channel.embeddedEventLoop.run()
        }
        #expect(try Self.events(channel).isEmpty)
        // It reads again: one event, the token as it is now.
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        let caughtUp = try Self.events(channel)
        #expect(caughtUp.map(\.id) == [3])
        #expect(caughtUp.map { $0.json["position"] as? Int } == [70])
        // The client goes away: the stream leaves the line, and nothing keeps it.
        _ = try channel.finish(acceptAlreadyClosed: true)
        #expect(line.openCount == 0)
        #expect(stream == nil, "the closed stream is still held")
    }
}
