import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// The gateway's HTTP/1.1 connections: Hummingbird's (`HTTP1Channel`'s pipeline and request loop),
/// except that a connection whose first request asks for a live-update stream, of a token that
/// waits, is served on its event loop (``LiveStream``) and its task ends — so an open stream holds
/// no task, only its channel. Any other first request, and every later one, goes to Hummingbird as
/// usual; a stream asked for there is answered by ``TokenEvents/stream(_:)``, the same events.
struct GatewayChannel: ServerChildChannel, HTTPChannelHandler {
    struct Value: ServerChildChannelValue {
        let channel: any Channel
        let door: NIOLoopBound<FirstRequestHandler>
        let first: EventLoopFuture<FirstRequestHandler.First>
    }

    let responder: HTTPChannelHandler.Responder
    let streams: StreamDoor

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // As HTTP1Channel, with the first-request handler last.
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: .init())
            try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
            let door = FirstRequestHandler(eventLoop: channel.eventLoop)
            try channel.pipeline.syncOperations.addHandler(door)
            return Value(channel: channel, door: NIOLoopBound(door, eventLoop: channel.eventLoop), first: door.first.futureResult)
        }
    }

    func handle(value: Value, logger: Logger) async {
        switch try? await value.first.get() {
        case .closed, nil:
            return
        case .stream(let head):
            if await streams.serve(head, door: value.door) { return }
        case .other:
            break
        }
        let door = value.door
        let channel = value.channel
        guard let asyncChannel = try? await channel.eventLoop.submit({
            guard channel.isActive else { throw ChannelError.ioOnClosedChannel }
            let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
            door.value.release()
            return asyncChannel
        }).get() else {
            channel.close(promise: nil)
            return
        }
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}

/// What decides whether a connection's first request is served as a stream on the event loop.
struct StreamDoor: Sendable {
    let auth: Authenticator
    let events: TokenEvents
    let serverName: String
    private let metrics = RequestMetricsMiddleware<BasicRequestContext>.Cache()

    init(auth: Authenticator, events: TokenEvents, serverName: String) {
        self.auth = auth
        self.events = events
        self.serverName = serverName
    }

    /// Whether `head` is a stream's request: `GET` of its path.
    static func isStream(_ head: HTTPRequest) -> Bool {
        guard head.method == .get, let path = head.path else { return false }
        return path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first == Routes.tokenEvents[...]
    }

    /// Serves the stream on the event loop if the caller's token waits and the gateway takes it
    /// (true); anything else — no or bad credentials, a token not waiting, the stream limit, a
    /// database error — is left to Hummingbird's route (false), which answers it as always. A
    /// request's budget is spent once: given back when the route will spend it again.
    func serve(_ head: HTTPRequest, door: NIOLoopBound<FirstRequestHandler>) async -> Bool {
        let started = ContinuousClock.now
        let request = Request(head: head, body: .init(buffer: ByteBuffer()))
        guard let (_, digest) = try? auth.credentials(request) else { return false }
        do {
            let userID = try await auth.userID(digest: digest)
            let stream = try await door.eventLoop.submit { door.value.stream(line: events.line, tokens: events.tokens, userID: userID) }.get()
            guard let stream else {
                auth.refund(digest: digest)
                return false
            }
            switch try await events.open(request, userID: userID, sink: stream) {
            case .single:
                auth.refund(digest: digest)
                try await door.eventLoop.submit { door.value.unstream() }.get()
                return false
            case .stream(let id, let first, let token):
                door.eventLoop.execute {
                    door.value.streamStarted()
                    stream.start(id: id, first: first, token: token, serverName: serverName)
                }
                let endpoint = metrics.endpoint(route: Routes.tokenEvents, method: .get, status: .ok)
                endpoint.requests.increment()
                endpoint.duration.record(duration: ContinuousClock.now - started)
                return true
            }
        } catch {
            auth.refund(digest: digest)
            _ = try? await door.eventLoop.submit { door.value.unstream() }.get()
            return false
        }
    }
}

/// The last handler of a gateway connection's pipeline. It holds the connection's first request
/// until ``GatewayChannel`` has decided who serves it: a ``LiveStream`` (the request's parts are
/// dropped, reads go on so a client's close is seen), or Hummingbird (``release()``: the held parts
/// go on to the async channel now behind this handler, which from then on passes everything).
final class FirstRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    enum First: Sendable {
        /// A stream's request (see ``StreamDoor/isStream(_:)``).
        case stream(HTTPRequest)
        /// Any other request (or a parse error).
        case other
        /// The connection closed before a request.
        case closed
    }

    private enum Mode {
        case holding
        case passing
        case streaming(LiveStream)
        /// Removed from its pipeline (the connection closed).
        case gone
    }

    private enum Held {
        case read(NIOAny)
        case error(any Error)
        case event(Any)
    }

    let first: EventLoopPromise<First>
    private var mode = Mode.holding
    private var decided = false
    private var held: [Held] = []
    private var readWanted = false
    private var context: ChannelHandlerContext?

    init(eventLoop: any EventLoop) {
        first = eventLoop.makePromise()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// Removed when the channel closes (Hummingbird's connection-state handler before this one does
    /// not pass `channelInactive` on): the client went away, or the stream ended.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        decide(.closed)
        if case .streaming(let stream) = mode { stream.clientClosed() }
        // The stream holds this handler's context, and so this handler: let go of it.
        mode = .gone
    }

    private func decide(_ what: First) {
        guard !decided else { return }
        decided = true
        first.succeed(what)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch mode {
        case .passing:
            context.fireChannelRead(data)
        case .streaming, .gone:
            break  // the rest of the stream's request, or anything a client sends after it: not read
        case .holding:
            held.append(.read(data))
            if case .head(let head) = unwrapInboundIn(data) {
                decide(StreamDoor.isStream(head) ? .stream(head) : .other)
            } else {
                decide(.other)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .passing = mode { context.fireChannelReadComplete() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch mode {
        case .passing:
            context.fireErrorCaught(error)
        case .streaming, .gone:
            context.close(promise: nil)
        case .holding:
            held.append(.error(error))
            decide(.other)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .streaming(let stream) = mode, held.isEmpty {
            stream.writabilityChanged()
        } else {
            context.fireChannelWritabilityChanged()
        }
    }

    /// The client shut its side (connections allow half-closure): for a stream, the client went away.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch mode {
        case .passing:
            context.fireUserInboundEventTriggered(event)
        case .streaming where held.isEmpty, .gone:
            if case ChannelEvent.inputClosed = event { context.close(promise: nil) }
        case .streaming, .holding:
            held.append(.event(event))
            decide(.other)
        }
    }

    func read(context: ChannelHandlerContext) {
        // While the first request is held, waiting for its decision, nothing more is read.
        if decided, !held.isEmpty {
            readWanted = true
        } else {
            context.read()
        }
    }

    /// A stream to serve this connection's first request, if the line opens it (nil: the
    /// connection has closed). What was read is still held, and nothing more is read, until
    /// ``streamStarted()`` or ``unstream()``.
    func stream(line: LiveLine, tokens: TokenStore, userID: Int64) -> LiveStream? {
        guard let context, context.channel.isActive, case .holding = mode else { return nil }
        let stream = LiveStream(context: context, line: line, tokens: tokens, userID: userID)
        mode = .streaming(stream)
        return stream
    }

    /// The stream is open: the request is dropped, and reading goes on so the client's close is seen.
    func streamStarted() {
        held = []
        if readWanted, let context {
            readWanted = false
            context.read()
        }
    }

    /// Back to holding (the stream was not opened after all): the request goes to Hummingbird.
    func unstream() {
        if case .streaming = mode { mode = .holding }
    }

    /// Hands the connection to Hummingbird's async channel, added behind this handler: what was held
    /// is passed on, and everything after it.
    func release() {
        guard let context else { return }
        mode = .passing
        let held = self.held
        self.held = []
        for item in held {
            switch item {
            case .read(let data): context.fireChannelRead(data)
            case .error(let error): context.fireErrorCaught(error)
            case .event(let event): context.fireUserInboundEventTriggered(event)
            }
        }
        context.fireChannelReadComplete()
        if readWanted {
            readWanted = false
            context.read()
        }
    }
}
