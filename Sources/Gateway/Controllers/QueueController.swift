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
        let caller = try await auth.authenticate(request)
        try await JSONBody.expectNone(request)
        let (row, token, created) = try await tokens.issue(userID: caller.userID, apiKey: caller.apiKey)
        return try respond(TokenView(row: row, token: token), status: created ? .created : .ok)
    }

    func current(_ request: Request) async throws -> Response {
        let caller = try await auth.authenticate(request)
        guard let token = QueueGate.tokenHeader(request),
              let row = try await tokens.poll(token: token, userID: caller.userID), row.userID == caller.userID
        else { throw Problem.queueTokenInvalid }
        return try respond(TokenView(row: row, token: token), status: .ok)
    }

    private func respond(_ view: TokenView, status: HTTPResponse.Status) throws -> Response {
        var headers: HTTPFields = [:]
        if let retryAfter = view.retryAfter { headers[.retryAfter] = String(retryAfter) }
        return try JSONBody.response(view, status: status, headers: headers)
    }
}

extension HTTPField.Name {
    /// `X-Queue-Token`: the waiting-room token.
    static let queueToken = HTTPField.Name("X-Queue-Token")!
}
