import Foundation
import Hummingbird
import Shared

/// `GET /v1/jobs/{jobId}`: a job's state and outcome, for its owner only.
struct JobsController<Context: RequestContext> {
    let auth: Authenticator
    let database: GatewayDatabase
    let jobs: JobStore

    func addRoutes(to router: Router<Context>) {
        router.get(RouterPath(Routes.job)) { request, context in try await show(request, context) }
    }

    struct JobView: Encodable {
        let jobId: Int64
        let kind: String
        let status: String
        let response: Reply?

        struct Reply: Encodable {
            let status: Int
            let body: JSONText
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(jobId, forKey: .jobId)
            try container.encode(kind, forKey: .kind)
            try container.encode(status, forKey: .status)
            try container.encode(response, forKey: .response)  // null until finished
        }

        enum CodingKeys: String, CodingKey { case jobId, kind, status, response }
    }

    func show(_ request: Request, _ context: Context) async throws -> Response {
        let caller = try await auth.authenticate(request)
        let id = try PathID.parse("jobId", from: context)
        // On a replica: a job it has not replayed yet (just enqueued) is asked of the primary; one it
        // shows queued that has finished meanwhile shows finished at the client's next poll.
        let found = try await database.read(confirmOnPrimary: { $0 == nil }) { [jobs] in try await jobs.find(id: id, reader: $0) }
        guard let record = found, record.userID == caller.userID else {
            throw Problem.notFound
        }
        let status = switch record.state {
        case .queued: "queued"
        case .succeeded: "succeeded"
        case .dead: "failed"
        }
        let reply = record.outcome.map { JobView.Reply(status: $0.status, body: JSONText(text: $0.body)) }
        return try JSONBody.response(JobView(jobId: record.id, kind: record.kind.rawValue, status: status, response: reply))
    }
}

/// Already-encoded JSON, embedded as a value when encoding.
struct JSONText: Encodable {
    let text: String

    func encode(to encoder: any Encoder) throws {
        let value = try JSONDecoder().decode(AnyJSON.self, from: Data(text.utf8))
        try value.encode(to: encoder)
    }
}

/// Any JSON value, for re-encoding stored bodies.
enum AnyJSON: Codable {
    case null, bool(Bool), number(Double), integer(Int64), string(String), array([AnyJSON]), object([String: AnyJSON])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .integer(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([AnyJSON].self) { self = .array(value) }
        else { self = .object(try container.decode([String: AnyJSON].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
