import HTTPTypes
import Hummingbird
import Shared

/// The waiting room: take a token (`POST /v1/queue/tokens`) and poll it (`GET /v1/queue/tokens/current`).
struct QueueController<Context: RequestContext> {
    let auth: Authenticator
    let tokens: TokenStore

    func addRoutes(to router: Router<Context>) {
        router.post(RouterPath(Routes.queueTokens)) { request, _ in try await issue(request) }
        router.get(RouterPath(Routes.currentToken)) { request, _ in try await current(request) }
    }

    func issue(_ request: Request) async throws -> Response {
        let (key, digest) = try auth.credentials(request)
        do {
            try await JSONBody.expectNone(request)
        } catch {
            _ = try await auth.userID(digest: digest)  // a bad key is 401 before a bad body is 400
            throw error
        }
        // One statement checks the key and takes a place in line: a fan's first request is one round trip.
        guard let issued = try await tokens.issue(apiKey: key, digest: digest) else { throw Problem.unauthorized }
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
