import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Shared

/// An answer from the gateway, parsed.
struct Answer: @unchecked Sendable {
    // @unchecked: `json` holds only JSONSerialization's immutable value types.
    let status: Int
    let json: [String: Any]
    let headers: HTTPHeaders

    var code: String? { json["code"] as? String }
    subscript(key: String) -> Any? { json[key] }
    func int(_ key: String) -> Int64? { (json[key] as? NSNumber)?.int64Value }

    /// "201", or "409 seat_unavailable" for a problem.
    var outcome: String { code.map { "\(status) \($0)" } ?? "\(status)" }
}

/// Calls Stagedoor's API as a client does: retries what never got an answer (a connection refused
/// or reset, a 502/504 from the balancer, a 503) with the same Idempotency-Key, and follows a
/// `202` to the job's final result.
struct API: Sendable {
    let http: HTTPClient
    let base: String
    let stats: Stats
    /// How long a request keeps being retried before it counts as unanswered.
    var patience: Duration = .seconds(120)

    struct Unanswered: Error, CustomStringConvertible {
        let endpoint: String
        let last: String
        var description: String { "\(endpoint) got no answer: \(last)" }
    }

    func call(_ endpoint: String, _ method: HTTPMethod, _ path: String, key: String? = nil, token: String? = nil,
              body: String? = nil, idempotencyKey: String? = nil) async throws -> Answer {
        let deadline = ContinuousClock.now + patience
        var last = ""
        var pause = Duration.milliseconds(50)
        while ContinuousClock.now < deadline {
            var request = HTTPClientRequest(url: base + path)
            request.method = method
            if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
            if let token { request.headers.add(name: "X-Queue-Token", value: token) }
            if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body))
            }
            let started = ContinuousClock.now
            do {
                // The deadline covers the wait for a pooled connection too, so it is the patience left,
                // not a per-try limit: a try that timed out in the client's own queue would only queue again.
                let left = deadline - ContinuousClock.now
                let response = try await http.execute(request, timeout: .nanoseconds(max(left.wholeMicroseconds, 1_000) * 1_000))
                let bytes = try await response.body.collect(upTo: 1 << 22)
                let json = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
                let answer = Answer(status: Int(response.status.code), json: json, headers: response.headers)
                stats.record(endpoint, latency: ContinuousClock.now - started, outcome: answer.outcome)
                // Not an answer from Stagedoor: the balancer lost the gateway, or the database is away.
                guard [502, 503, 504].contains(answer.status) else {
                    return answer.status == 202 ? try await followJob(answer, key: key) : answer
                }
                last = answer.outcome
            } catch {
                stats.record(endpoint, latency: ContinuousClock.now - started, outcome: "transport error (\(Self.kind(of: error)))")
                last = "\(error)"
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(2))
        }
        throw Unanswered(endpoint: endpoint, last: last)
    }

    /// A short name for a transport error, for the outcome table.
    static func kind(of error: any Error) -> String {
        if let error = error as? HTTPClientError { return String(describing: error).replacingOccurrences(of: "HTTPClientError.", with: "") }
        return String(String(describing: type(of: error)).prefix(40))
    }

    /// Polls `Location` until the job has its final answer, which is returned as if it came directly.
    func followJob(_ accepted: Answer, key: String?) async throws -> Answer {
        guard let location = accepted.headers.first(name: "Location") else { return accepted }
        while true {
            try await Task.sleep(for: .milliseconds(200))
            let job = try await call("GET /v1/jobs/{id}", .GET, location, key: key)
            // A job a 202 named must exist: its id was handed out only after its commit.
            if job.status == 404 { stats.lostJob(location) }
            guard job.status == 200 else { return job }
            if let response = job["response"] as? [String: Any], let status = response["status"] as? Int {
                return Answer(status: status, json: response["body"] as? [String: Any] ?? [:], headers: [:])
            }
        }
    }
}
