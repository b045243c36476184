import Foundation
import Hummingbird
import NIOCore
import NIOHTTPTypes

/// A live-update stream served on its connection's event loop, with no task of its own: the line
/// (``LiveLine``) calls ``wake(_:)`` there, and the stream writes its events straight into the
/// channel. What stays while it is open is this object and the connection's channel and pipeline:
/// 9.6 KB a stream at 10,000, against 39 KB for one served by a request's task, whose suspended
/// frames and connection task were most of it (docs/benchmarks.md, *Live updates*); and an event
/// is one write on the loop, not a hop into a task and Hummingbird's async writer. It says what
/// ``TokenEvents/stream(_:)`` says, event for event (both follow ``StreamedToken``).
///
/// Everything but `eventLoop` is touched only on the event loop (hence `@unchecked Sendable`).
final class LiveStream: LiveSink, @unchecked Sendable {
    let eventLoop: any EventLoop
    private let context: ChannelHandlerContext
    private let line: LiveLine
    private let tokens: TokenStore
    private let userID: Int64
    private var id: UInt64 = 0
    /// Nil until ``start(id:first:token:serverName:)``.
    private var told: StreamedToken?
    private var rereading = false
    private var ended = false
    /// A change came while the client was not reading (the channel not writable): it is sent, as
    /// the token is then, once the channel can take writes again — so a client that stops reading
    /// costs one pending event, not one per tick.
    private var behind = false

    /// A stream for the channel of `context` (the connection's ``FirstRequestHandler``), on its loop.
    init(context: ChannelHandlerContext, line: LiveLine, tokens: TokenStore, userID: Int64) {
        self.eventLoop = context.eventLoop
        self.context = context
        self.line = line
        self.tokens = tokens
        self.userID = userID
    }

    /// Sends the response's head and the first event (on the loop), once the line has opened the
    /// stream as `id`. Wakes before it are ignored: the first event reads the room's mark as it is now.
    func start(id: UInt64, first: TokenRow, token: String, serverName: String) {
        self.id = id
        // The client may have gone between the line's opening and now.
        guard !ended, context.channel.isActive else {
            ended = true
            line.close(id)
            return
        }
        told = StreamedToken(row: first, token: token, userID: userID)
        var headers = TokenEvents.headers
        headers[.connection] = "close"
        headers[.date] = HTTPDate.now()
        headers[.server] = serverName
        context.write(NIOAny(HTTPResponsePart.head(HTTPResponse(status: .ok, headerFields: headers))), promise: nil)
        if refresh() { checkTurn() }
    }

    func wake(_ wake: LiveLine.Wake) {
        guard !ended, told != nil else { return }
        switch wake {
        case .moved:
            guard refresh() else { return }
        case .quiet:
            if context.channel.isWritable {
                context.writeAndFlush(NIOAny(HTTPResponsePart.body(TokenEvents.keepAlive)), promise: nil)
            }
        case .shuttingDown:
            finish()  // the client reconnects elsewhere
            return
        case .closed:
            return
        }
        checkTurn()
    }

    /// The channel's writability changed: a change held back while it could not take writes goes now.
    func writabilityChanged() {
        guard !ended, behind, context.channel.isWritable else { return }
        if refresh() { checkTurn() }
    }

    /// The client went away (the channel closed).
    func clientClosed() {
        guard !ended else { return }
        ended = true
        line.close(id)
    }

    /// Sends the token as the room's mark shows it, if that changed; ends the stream once the token
    /// is no longer waiting (false). While the client does not read, only notes that it is behind.
    private func refresh() -> Bool {
        guard context.channel.isWritable else {
            behind = true
            return true
        }
        behind = false
        guard let update = told?.update(line: line) else { return false }
        if let event = update.event { context.writeAndFlush(NIOAny(HTTPResponsePart.body(event)), promise: nil) }
        if !update.goesOn { finish() }
        return update.goesOn
    }

    /// When admission has come to the token, reads what it is now — one read at a time, off the loop.
    private func checkTurn() {
        guard !rereading, let told, told.turnCame(line: line) else { return }
        rereading = true
        let (token, tokens, id, line) = (told.token, self.tokens, self.id, self.line)
        Task {
            let found = await TokenEvents.reread(token: token, tokens: tokens, stream: id, line: line)
            self.eventLoop.execute { self.reread(found) }
        }
    }

    private func reread(_ found: TokenEvents.Reread) {
        rereading = false
        guard !ended else { return }
        switch told?.take(found) {
        case .goesOn: _ = refresh()
        case .ends, nil: finish()
        case .clientGone: clientClosed()
        }
    }

    /// Ends the response properly, then closes the connection (its head said so).
    private func finish() {
        guard !ended else { return }
        ended = true
        line.close(id)
        let channel = context.channel
        context.writeAndFlush(NIOAny(HTTPResponsePart.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// The `Date` header's text for now (RFC 9110 §5.6.7), as Hummingbird writes it on other responses.
enum HTTPDate {
    static func now() -> String {
        var seconds = time(nil)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var text = [CChar](repeating: 0, count: 40)
        let count = strftime(&text, text.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: text[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
