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

/// A queue token as docs/api.md shows it; `activatedAt`/`expiresAt` are null while waiting.
struct TokenView {
    let token: String
    let status: String
    let position: Int64
    let etaSeconds: Int64
    let activatedAt: Date?
    let expiresAt: Date?

    /// How long a waiting client should wait before polling again, seconds: at least 1, and at most a
    /// quarter of the idle TTL so a client obeying it is never expired as idle.
    let retryAfter: Int?

    init(row: TokenRow, token: String) {
        self.token = token
        let status = row.effectiveStatus
        self.status = status
        activatedAt = row.activatedAt
        expiresAt = row.expiresAt
        if status == "waiting" {
            position = max(1, row.seq - row.admittedThrough)
            etaSeconds = Int64((Double(position) / row.admitPerSecond).rounded(.up))
            let ceiling = max(1, Int(row.idleTTL / 4))
            retryAfter = min(ceiling, max(1, Int(etaSeconds / 2)))
        } else {
            position = 0
            etaSeconds = 0
            retryAfter = nil
        }
    }

    /// The body as JSON text, keys sorted as `JSONBody.encoder` sorts them. Written by hand: this is
    /// the poll, the hottest response, and `JSONEncoder` was a tenth of its CPU.
    var json: String {
        func date(_ value: Date?) -> String { value.map { "\"\(JSONObjectText.rfc3339($0))\"" } ?? "null" }
        return """
            {"activatedAt":\(date(activatedAt)),"etaSeconds":\(etaSeconds),"expiresAt":\(date(expiresAt)),\
            "position":\(position),"status":\(JSONObjectText.quoted(status)),"token":\(JSONObjectText.quoted(token))}
            """
    }
}
