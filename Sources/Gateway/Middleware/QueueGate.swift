import Hummingbird
import Shared

/// The check in front of every endpoint docs/api.md marks *queue*: an `X-Queue-Token` that belongs to
/// the caller and is active — `401 queue_token_invalid` or `403 queue_token_not_active` otherwise.
struct QueueGate: Sendable {
    let tokens: TokenStore

    /// The `X-Queue-Token` header, if present and of a plausible length.
    static func tokenHeader(_ request: Request) -> String? {
        guard let token = request.headers[.queueToken], !token.isEmpty, token.count <= 200 else { return nil }
        return token
    }

    /// Returns the caller's active token: `401 queue_token_invalid` if the header is missing, the
    /// token unknown or another user's, `403 queue_token_not_active` if it is not active. (Writes
    /// check the same inside their enqueue statement: ``BookingJobs``.)
    @discardableResult
    func requireActive(_ request: Request, userID: Int64) async throws -> TokenRow {
        guard let token = Self.tokenHeader(request), let row = try await tokens.find(token: token), row.userID == userID else {
            throw Problem.queueTokenInvalid
        }
        guard row.effectiveStatus == "active" else { throw Problem.queueTokenNotActive(row.effectiveStatus) }
        return row
    }

    /// `403 queue_token_wrong_room` unless the active `token` is of `roomID`, the room gating what the
    /// request is about (checked after that thing's existence: docs/api.md's order).
    static func requireRoom(_ roomID: Int64, of token: TokenRow) throws {
        guard token.roomID == roomID else { throw Problem.queueTokenWrongRoom(roomID) }
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
