import Foundation
import Hummingbird
import NIOCore
import Shared

/// `GET /v1/queue/tokens/current/events`: the poll's JSON pushed as it changes (server-sent events).
/// The first event at once; then one whenever the token's status, position, ETA or room state
/// changes, at most one per admission notice; `: keep-alive` after 15 s without one; the stream ends after the
/// event that shows a status other than `waiting`. The place is computed from the room's mark in
/// memory (``LiveLine``); the database is read again only when admission has reached the token.
struct TokenEvents: Sendable {
    let auth: Authenticator
    let tokens: TokenStore
    let line: LiveLine

    /// What a request for the stream finds.
    enum Opening {
        /// The token is not waiting: one event, and the stream ends.
        case single(TokenRow, token: String)
        /// The token waits: a stream is open in ``LiveLine`` (`id`), starting from `first`.
        case stream(id: UInt64, first: TokenRow, token: String)
    }

    /// The caller's token, and for a waiting one a stream in the line (served by `sink` on its event
    /// loop, or nil: by a task that waits, ``stream(_:)``). `401 queue_token_invalid`; past
    /// `MAX_STREAMS`, `503` with `Retry-After`.
    func open(_ request: Request, userID: Int64, sink: (any LiveSink)?) async throws -> Opening {
        guard let token = QueueGate.tokenHeader(request), let first = try await tokens.poll(token: token, userID: userID)
        else { throw Problem.queueTokenInvalid }
        guard first.effectiveStatus == "waiting" else { return .single(first, token: token) }
        let id = if let sink { line.open(tokenID: first.id, roomID: first.roomID, sink: sink) }
                 else { line.open(tokenID: first.id, roomID: first.roomID) }
        guard let id else {
            var problem = Problem.unavailable("This gateway holds as many live streams as it may; poll GET /v1/queue/tokens/current.")
            problem.headers[.retryAfter] = "5"
            throw problem
        }
        return .stream(id: id, first: first, token: token)
    }

    /// The stream as a Hummingbird response, its events written by the request's task — for a
    /// stream asked for on a connection that has served other requests; one asked for first on its
    /// connection is served on the event loop instead (``LiveStream``, ``GatewayChannel``).
    func stream(_ request: Request) async throws -> Response {
        let caller = try await auth.authenticate(request)
        let (first, token, stream): (TokenRow, String, UInt64?) = switch try await open(request, userID: caller.userID, sink: nil) {
        case .single(let row, let token): (row, token, nil)
        case .stream(let id, let row, let token): (row, token, id)
        }
        var headers = Self.headers
        // A live stream's connection is closed when it ends (Hummingbird's inbound-close watch consumes
        // the connection): say so, or a client would send its next request — a reservation — on a
        // connection the gateway is closing, and see it fail.
        if stream != nil { headers[.connection] = "close" }
        return Response(status: .ok, headers: headers, body: ResponseBody { [line, tokens] writer in
            guard let stream else {
                // Not waiting: one event, and the stream ends.
                try await writer.write(Self.event(TokenView(row: first, token: token), id: 1))
                try await writer.finish(nil)
                return
            }
            defer { line.close(stream) }
            // A client that goes away closes its stream: the wait ends, and so does this body. (Not
            // consumeWithCancellationOnInboundClose: its two extra tasks per stream held kilobytes each.)
            let ended = try await request.body.consumeWithInboundCloseHandler { _ in
                try await Self.run(first: first, token: token, userID: caller.userID, stream: stream, line: line,
                                   tokens: tokens, writer: &writer)
            } onInboundClosed: {
                line.close(stream)
            }
            // Ended by the server (the token left `waiting`, or shutdown): end the response properly.
            if ended { try await writer.finish(nil) }
        })
    }

    /// The headers of a stream's response.
    static let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
    /// A comment line that keeps the connection in use when nothing has changed for a while.
    static let keepAlive = ByteBuffer(string: ": keep-alive\n\n")

    static func event(_ view: TokenView, id: Int) -> ByteBuffer {
        let json = view.json
        var buffer = ByteBuffer()
        buffer.reserveCapacity(json.utf8.count + 40)
        buffer.writeStaticString("event: token\nid: ")
        buffer.writeString(String(id))
        buffer.writeStaticString("\ndata: ")
        buffer.writeString(json)
        buffer.writeStaticString("\n\n")
        return buffer
    }

    /// Sends events until the token leaves `waiting` or the gateway shuts down (true: the response
    /// should end properly), or the client goes away (false).
    private static func run(first: TokenRow, token: String, userID: Int64, stream: UInt64, line: LiveLine,
                            tokens: TokenStore, writer: inout some ResponseBodyWriter) async throws -> Bool {
        var told = StreamedToken(row: first, token: token, userID: userID)
        var seen: UInt64 = 0
        while true {
            let (event, goesOn) = told.update(line: line)
            if let event { try await writer.write(event) }
            guard goesOn else { return true }
            let (wake, changes) = await line.wait(stream, seen: seen)
            seen = changes
            if Task.isCancelled { return false }
            switch wake {
            case .quiet:
                try await writer.write(Self.keepAlive)
            case .closed:
                return false  // the client went away
            case .shuttingDown:
                return true  // the client reconnects elsewhere
            case .moved:
                break
            }
            if told.turnCame(line: line) {
                switch told.take(await Self.reread(token: token, tokens: tokens, stream: stream, line: line)) {
                case .goesOn: break
                case .ends: return true
                case .clientGone: return false
                }
            }
        }
    }

    /// The token as the database has it now (`row` nil: gone, or not the caller's). A read that fails
    /// — the database slow or away when a turn comes to thousands of streams in one tick — is tried
    /// again each second while the stream is open, rather than drop the client; nil once it closes.
    static func reread(token: String, tokens: TokenStore, stream: UInt64, line: LiveLine) async -> Reread {
        while true {
            switch line.streamState(stream) {
            case .closed: return .closed
            case .shuttingDown: return .shuttingDown
            case .open: break
            }
            do {
                return try await tokens.find(token: token).map(Reread.found) ?? .gone
            } catch {
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    enum Reread {
        case found(TokenRow)
        /// No such token any more.
        case gone
        /// The client went away meanwhile.
        case closed
        case shuttingDown
    }

    /// The token as the room's current mark shows it (a mark never moves back).
    static func current(_ row: TokenRow, line: LiveLine) -> TokenRow {
        guard row.status == "waiting", let mark = line.mark(room: row.roomID), mark.admittedThrough >= row.admittedThrough else {
            return row
        }
        return TokenRow(
            id: row.id, userID: row.userID, roomID: row.roomID, place: row.place, status: row.status,
            activatedAt: row.activatedAt, expiresAt: row.expiresAt, lastSeenAt: row.lastSeenAt, salt: row.salt, now: Date(),
            roomState: mark.state, opensAt: row.opensAt, admittedThrough: mark.admittedThrough,
            admitPerSecond: mark.admitPerSecond, idleTTL: row.idleTTL, effectiveStatus: row.effectiveStatus)
    }
}

/// What a stream knows of its token and has told its client — the one home of a stream's rules,
/// for both ways of serving it (a request's task, ``TokenEvents``; the event loop, ``LiveStream``).
struct StreamedToken {
    /// The token as last read.
    private(set) var row: TokenRow
    let token: String
    let userID: Int64
    private var sent: String?
    private var eventID = 0

    init(row: TokenRow, token: String, userID: Int64) {
        self.row = row
        self.token = token
        self.userID = userID
    }

    /// The event to send now, if the token as the room's mark shows it has changed since the last;
    /// and whether the stream goes on (the token still waits) or ends after it.
    mutating func update(line: LiveLine) -> (event: ByteBuffer?, goesOn: Bool) {
        let view = TokenView(row: TokenEvents.current(row, line: line), token: token)
        var event: ByteBuffer?
        if view.json != sent {
            eventID += 1
            sent = view.json
            event = TokenEvents.event(view, id: eventID)
        }
        return (event, view.status == "waiting")
    }

    /// Whether admission has reached the token's place (or passed it, had the token left), or the
    /// pre-queue was drawn: the stream then reads what the token is now (``take(_:)``).
    func turnCame(line: LiveLine) -> Bool {
        guard let mark = line.mark(room: row.roomID) else { return false }
        return (row.roomState == "scheduled" && mark.state != "scheduled") || mark.admittedThrough >= (row.place ?? .max)
    }

    enum Next {
        case goesOn
        /// The response ends properly.
        case ends
        /// The client went away.
        case clientGone
    }

    /// Takes a re-read of the token in.
    mutating func take(_ found: TokenEvents.Reread) -> Next {
        switch found {
        case .found(let fresh) where fresh.userID == userID:
            row = fresh
            return .goesOn
        case .found, .gone, .shuttingDown: return .ends
        case .closed: return .clientGone
        }
    }
}
