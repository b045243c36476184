import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// One fan's live-update stream (`GET /v1/queue/tokens/current/events`) on a plain NIO channel: a
/// load generator that holds tens of thousands of streams needs a few hundred bytes per stream, not
/// an HTTP client's pool and task per response.
///
/// Each `token` event is kept as its arrival time and what it showed (position, and whether the
/// token was still waiting); the channel is confined to its event loop, and the events are read
/// only after it closed.
final class EventStreamHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    struct Event {
        /// Seconds since 1970 (the clock notices are timed with).
        let at: Double
        /// Its position while waiting; nil once the token is no longer waiting.
        let waitingPosition: Int64?
    }

    enum End: Equatable {
        case open
        /// The server ended the stream after an event that was not `waiting`.
        case finished(status: String)
        /// Refused, reset, or ended while still waiting.
        case failed(String)
    }

    private let host: String
    private let path: String
    private let key: String
    private let token: String
    private var pending = ByteBuffer()
    private(set) var events: [Event] = []
    private(set) var end: End = .open
    private var lastStatus = ""
    /// Called once, on the channel's loop, with the first event (the stream is open).
    private let onFirstEvent: @Sendable () -> Void
    /// Called once, on the channel's loop, when the stream ends.
    private let onEnd: @Sendable (End) -> Void

    init(host: String, key: String, token: String, onFirstEvent: @escaping @Sendable () -> Void,
         onEnd: @escaping @Sendable (End) -> Void) {
        self.host = host
        self.path = "/v1/queue/tokens/current/events"
        self.key = key
        self.token = token
        self.onFirstEvent = onFirstEvent
        self.onEnd = onEnd
    }

    func channelActive(context: ChannelHandlerContext) {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "Host", value: host)
        head.headers.add(name: "Accept", value: "text/event-stream")
        head.headers.add(name: "Authorization", value: "Bearer \(key)")
        head.headers.add(name: "X-Queue-Token", value: token)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if head.status != .ok { finish(.failed("HTTP \(head.status.code)"), context: context) }
        case .body(var bytes):
            pending.writeBuffer(&bytes)
            readEvents()
        case .end:
            finish(lastStatus == "waiting" || lastStatus.isEmpty ? .failed("ended while waiting") : .finished(status: lastStatus),
                   context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failed("connection closed while waiting"), context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failed("\(error)"), context: context)
    }

    private func finish(_ how: End, context: ChannelHandlerContext) {
        guard end == .open else { return }
        end = how
        onEnd(how)
        context.close(promise: nil)
    }

    /// The connection was never made (on the channel's loop, from the connect's future).
    func failedToConnect(_ error: any Error) {
        guard end == .open else { return }
        end = .failed("connect: \(error)")
        onEnd(end)
    }

    /// Takes every complete event (ended by a blank line) off the pending bytes.
    private func readEvents() {
        while let view = pending.readableBytesView.firstRange(of: [UInt8(ascii: "\n"), UInt8(ascii: "\n")]) {
            let length = view.upperBound - pending.readerIndex
            guard let block = pending.readString(length: length) else { return }
            guard let data = block.split(separator: "\n").first(where: { $0.hasPrefix("data: ") }) else { continue }  // a keep-alive
            let json = data.dropFirst(6)
            let status = Self.string(after: "\"status\":\"", in: json) ?? ""
            lastStatus = status
            let position = status == "waiting" ? Self.integer(after: "\"position\":", in: json) : nil
            events.append(Event(at: Date().timeIntervalSince1970, waitingPosition: position))
            if events.count == 1 { onFirstEvent() }
        }
        pending.discardReadBytes()
    }

    private static func string(after marker: String, in text: Substring) -> String? {
        guard let start = text.range(of: marker)?.upperBound, let end = text[start...].firstIndex(of: "\"") else { return nil }
        return String(text[start..<end])
    }

    private static func integer(after marker: String, in text: Substring) -> Int64? {
        guard let start = text.range(of: marker)?.upperBound else { return nil }
        return Int64(text[start...].prefix { $0.isNumber })
    }
}

extension ByteBufferView {
    /// The range of the first occurrence of `needle`, in the view's indices.
    func firstRange(of needle: [UInt8]) -> Range<Int>? {
        guard count >= needle.count else { return nil }
        var index = startIndex
        while index <= endIndex - needle.count {
            if self[index] == needle[0], self[index..<(index + needle.count)].elementsEqual(needle) {
                return index..<(index + needle.count)
            }
            index += 1
        }
        return nil
    }
}

/// Opens one stream; the handler records it.
enum EventStreamClient {
    static func open(host: String, port: Int, source: String?, handler: EventStreamHandler) -> EventLoopFuture<Channel> {
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(30))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        if let source, let address = try? SocketAddress(ipAddress: source, port: 0) {
            bootstrap = bootstrap.bind(to: address)
        }
        let connected = bootstrap.connect(host: host, port: port)
        connected.whenFailure { handler.failedToConnect($0) }
        return connected
    }
}
