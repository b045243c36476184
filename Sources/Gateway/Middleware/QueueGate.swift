import Hummingbird
import Shared

/// The check in front of every endpoint API.md marks *queue*: an `X-Queue-Token` that belongs to
/// the caller and is active — `401 queue_token_invalid` or `403 queue_token_not_active` otherwise.
struct QueueGate: Sendable {
    let tokens: TokenStore

    /// The `X-Queue-Token` header, if present and of a plausible length.
    static func tokenHeader(_ request: Request) -> String? {
        guard let token = request.headers[.queueToken], !token.isEmpty, token.count <= 200 else { return nil }
        return token
    }

    /// Returns the caller's active token, or throws the matching problem.
    @discardableResult
    func requireActive(_ request: Request, userID: Int64) async throws -> TokenRow {
        try Self.requireActive(try await lookUp(request), userID: userID)
    }

    /// The row of the request's `X-Queue-Token`, whoever it belongs to; nil if the header is
    /// missing or the token unknown. For looking the token up beside the caller's key.
    func lookUp(_ request: Request) async throws -> TokenRow? {
        guard let token = Self.tokenHeader(request) else { return nil }
        return try await tokens.find(token: token)
    }

    /// `row` if it is the caller's and active: `401 queue_token_invalid` if there is none or it is
    /// another user's, `403 queue_token_not_active` if it is not active.
    @discardableResult
    static func requireActive(_ row: TokenRow?, userID: Int64) throws -> TokenRow {
        guard let row, row.userID == userID else { throw Problem.queueTokenInvalid }
        let status = row.effectiveStatus
        guard status == "active" else { throw Problem.queueTokenNotActive(status) }
        return row
    }
}

/// A path segment that must be a positive 64-bit integer id.
enum PathID {
    /// The id in `name`, or `400 invalid_request`.
    static func parse(_ name: String, from context: some RequestContext) throws -> Int64 {
        guard let raw = context.parameters.get(name), let id = Int64(raw), id > 0 else {
            throw Problem.invalidRequest("'\(name)' must be a positive integer.")
        }
        return id
    }
}
