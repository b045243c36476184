import Foundation
import Shared

/// `POST /v1/users` request.
struct CreateUserRequest: Decodable {
    let name: String
}

/// `POST /v1/users` answer; the API key is shown only here.
struct UserCreated: Encodable {
    let userId: Int64
    let name: String
    let apiKey: String
}

/// A queue token as docs/api.md shows it, with its room's state: `position` is null in the pre-queue,
/// `etaSeconds` null there and while the room is paused; `activatedAt`/`expiresAt` are null while waiting.
struct TokenView {
    let token: String
    let roomID: Int64
    let roomState: String
    let opensAt: Date?
    let status: String
    let position: Int64?
    let etaSeconds: Int64?
    let activatedAt: Date?
    let expiresAt: Date?

    /// How long a waiting client should wait before polling again, seconds: at least 1, and at most a
    /// quarter of the idle TTL so a client obeying it is never expired as idle (in the pre-queue too:
    /// the idle TTL starts at the opening, and the client should learn its place soon after).
    let retryAfter: Int?

    init(row: TokenRow, token: String) {
        self.token = token
        roomID = row.roomID
        roomState = row.roomState
        opensAt = row.opensAt
        let status = row.effectiveStatus
        self.status = status
        activatedAt = row.activatedAt
        expiresAt = row.expiresAt
        guard status == "waiting" else {
            position = 0
            etaSeconds = 0
            retryAfter = nil
            return
        }
        let ceiling = max(1, Int(row.idleTTL / 4))
        guard let place = row.place, row.roomState != "scheduled" else {
            // The pre-queue: no place until the draw at the opening.
            position = nil
            etaSeconds = nil
            let untilOpening = row.opensAt.map { Int($0.timeIntervalSince(row.now).rounded(.up)) } ?? 1
            retryAfter = min(ceiling, max(1, untilOpening))
            return
        }
        let position = max(1, place - row.admittedThrough)
        self.position = position
        if row.roomState == "paused" {
            etaSeconds = nil
            retryAfter = ceiling
        } else {
            let eta = Int64((Double(position) / row.admitPerSecond).rounded(.up))
            etaSeconds = eta
            retryAfter = min(ceiling, max(1, Int(eta / 2)))
        }
    }

    /// The body as JSON text, keys sorted as `JSONBody.encoder` sorts them. Written by hand: this is
    /// the poll, the hottest response, and `JSONEncoder` was a tenth of its CPU.
    var json: String {
        func date(_ value: Date?) -> String { value.map { "\"\(JSONObjectText.rfc3339($0))\"" } ?? "null" }
        func number(_ value: Int64?) -> String { value.map(String.init) ?? "null" }
        return """
            {"activatedAt":\(date(activatedAt)),"etaSeconds":\(number(etaSeconds)),"expiresAt":\(date(expiresAt)),\
            "opensAt":\(date(opensAt)),"position":\(number(position)),"roomId":\(roomID),\
            "roomState":\(JSONObjectText.quoted(roomState)),"status":\(JSONObjectText.quoted(status)),\
            "token":\(JSONObjectText.quoted(token))}
            """
    }
}
