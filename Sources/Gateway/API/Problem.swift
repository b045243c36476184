import Foundation
import Hummingbird
import Shared

/// An `application/problem+json` answer with one of docs/api.md's stable codes.
struct Problem: HTTPResponseError, Sendable {
    let status: HTTPResponse.Status
    let code: String
    let title: String
    let detail: String
    /// Extra members, e.g. `queueStatus`, `balance`, `required`.
    var extra: [String: JSONObjectText.Value] = [:]
    /// Headers such as `Retry-After`.
    var headers: HTTPFields = [:]

    /// The problem's JSON body, keys sorted.
    var body: String {
        ProblemDocument.json(status: Int(status.code), code: code, title: title, detail: detail, extra: extra)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

extension Problem {
    static func invalidRequest(_ detail: String) -> Problem {
        Problem(status: .badRequest, code: "invalid_request", title: "Invalid request", detail: detail)
    }

    static let unauthorized = Problem(
        status: .unauthorized, code: "unauthorized", title: "Unauthorized",
        detail: "Send a valid API key as 'Authorization: Bearer <apiKey>'.")

    static let queueTokenInvalid = Problem(
        status: .unauthorized, code: "queue_token_invalid", title: "Queue token invalid",
        detail: "Send your queue token as 'X-Queue-Token'; take one with POST /v1/queue/tokens.")

    static func queueTokenNotActive(_ status: String) -> Problem {
        Problem(status: .forbidden, code: "queue_token_not_active", title: "Queue token not active",
                detail: "Your queue token is \(status); this endpoint needs an active one.",
                extra: ["queueStatus": .string(status)])
    }

    static func queueTokenWrongRoom(_ roomID: Int64) -> Problem {
        Problem(status: .forbidden, code: "queue_token_wrong_room", title: "Queue token of another room",
                detail: "This concert is gated by waiting room \(roomID); take a token there with POST /v1/queue/tokens {\"roomId\": \(roomID)}.",
                extra: ["roomId": .int(roomID)])
    }

    static let notFound = Problem(status: .notFound, code: "not_found", title: "Not found", detail: "No such resource.")

    /// `405`, with the `Allow` header RFC 9110 requires: the methods the path does answer.
    static func methodNotAllowed(allow methods: [String]) -> Problem {
        Problem(status: .methodNotAllowed, code: "method_not_allowed", title: "Method not allowed",
                detail: "This path answers \(methods.joined(separator: ", ")).", headers: [.allow: methods.joined(separator: ", ")])
    }

    static let payloadTooLarge = Problem(
        status: .contentTooLarge, code: "payload_too_large", title: "Payload too large",
        detail: "Request bodies are limited to 64 KiB.")

    static func rateLimited(retryAfter seconds: Int) -> Problem {
        Problem(status: .tooManyRequests, code: "rate_limited", title: "Too many requests",
                detail: "This API key is over its request budget; retry after \(seconds) s.",
                headers: [.retryAfter: String(seconds)])
    }

    static func unavailable(_ detail: String = "The service is temporarily unavailable; retry shortly.") -> Problem {
        Problem(status: .serviceUnavailable, code: "unavailable", title: "Service unavailable", detail: detail,
                headers: [.retryAfter: "1"])
    }
}
