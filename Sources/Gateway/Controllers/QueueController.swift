import HTTPTypes
import Hummingbird
import Shared

/// The waiting rooms: take a token (`POST /v1/queue/tokens`, optionally `{"roomId": N}`; room 1 by
/// default) and poll it (`GET /v1/queue/tokens/current`).
struct QueueController<Context: RequestContext> {
    let auth: Authenticator
    let tokens: TokenStore
    let rooms: RoomStore

    func addRoutes(to router: Router<Context>) {
        router.post(RouterPath(Routes.queueTokens)) { request, _ in try await issue(request) }
        router.get(RouterPath(Routes.currentToken)) { request, _ in try await current(request) }
        router.get(RouterPath(Routes.room)) { _, context in try await room(context) }
    }

    /// `GET /v1/rooms/{roomId}`: the public room, for anyone; cached by clients for a second.
    func room(_ context: some RequestContext) async throws -> Response {
        let id = try PathID.parse("roomId", from: context)
        guard let room = try await rooms.rooms(id: id, fromReplica: true).first else { throw Problem.notFound }
        return try JSONBody.response(room.publicView, headers: [.cacheControl: "max-age=1"])
    }

    /// `{"roomId": 2}`; absent or null means room 1. Plain bodies skip `JSONDecoder` (``IntegerFields``):
    /// every fan of a room's on-sale sends one.
    struct IssueRequest: Decodable { let roomId: Int64? }

    func issue(_ request: Request) async throws -> Response {
        let (key, digest) = try auth.credentials(request)
        let roomID: Int64
        do {
            let body = try await JSONBody.collect(request)
            if body.readableBytes == 0 {
                roomID = 1
            } else {
                let requested = try JSONBody.decode(IssueRequest.self, from: body).roomId ?? 1
                guard requested > 0 else { throw Problem.invalidRequest("'roomId' must be a positive integer.") }
                roomID = requested
            }
        } catch {
            _ = try await auth.userID(digest: digest)  // a bad key is 401 before a bad body is 400
            throw error
        }
        // One statement checks the key and takes a place in line: a fan's first request is one round trip.
        guard let issued = try await tokens.issue(apiKey: key, digest: digest, roomID: roomID) else { throw Problem.unauthorized }
        auth.learn(digest: digest, userID: issued.row.userID)
        return respond(TokenView(row: issued.row, token: issued.token), status: issued.created ? .created : .ok)
    }

    func current(_ request: Request) async throws -> Response {
        let caller = try await auth.authenticate(request)
        guard let token = QueueGate.tokenHeader(request),
              let row = try await tokens.poll(token: token, userID: caller.userID)
        else { throw Problem.queueTokenInvalid }
        return respond(TokenView(row: row, token: token), status: .ok)
    }

    private func respond(_ view: TokenView, status: HTTPResponse.Status) -> Response {
        var headers: HTTPFields = [:]
        if let retryAfter = view.retryAfter { headers[.retryAfter] = String(retryAfter) }
        return JSONBody.response(json: view.json, status: status, headers: headers)
    }
}

extension HTTPField.Name {
    /// `X-Queue-Token`: the waiting-room token.
    static let queueToken = HTTPField.Name("X-Queue-Token")!
}

/// The fields of `POST /v1/queue/tokens`'s body (a generic type's nested types cannot store statics).
private let issueFields = IntegerFields(["roomId"])

extension QueueController.IssueRequest: IntegerFieldsDecodable {
    static var integerFields: IntegerFields { issueFields }
    init?(integerValues values: [Int64]) {
        guard values.count == 1 else { return nil }
        self.init(roomId: values[0])
    }
}
