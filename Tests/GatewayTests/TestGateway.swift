import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
@testable import Gateway
@testable import QueueWorker
import Shared
import TestSupport

/// A gateway router over a fresh database, driven through Hummingbird's router test client;
/// optionally with the queue worker's admission running in-process.
enum TestGateway {
    static func run<T: Sendable>(
        _ overrides: [String: String] = [:], admission: Bool = false,
        _ body: @escaping @Sendable (TestAPI, PostgresClient) async throws -> T
    ) async throws -> T {
        try await TestDatabase.withDatabase(poolSize: 20) { client, url in
            var values = overrides
            values["DATABASE_URL"] = url.urlString
            let settings = try Settings(values: values)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                if admission {
                    group.addTask {
                        try await AdmissionService(settings: settings, logger: Logger(label: "test.admission")).run()
                        return nil
                    }
                }
                group.addTask {
                    let router = buildRouter(settings: settings, client: client, logger: Logger(label: "test.gateway"))
                    return try await Application(router: router).test(.router) { http in try await body(TestAPI(client: http), client) }
                }
                defer { group.cancelAll() }
                while let result = try await group.next() {
                    if let value = result { return value }
                }
                throw TestSetupError("the gateway test ended without a result")
            }
        }
    }
}

/// A parsed answer.
struct Reply: @unchecked Sendable {
    // @unchecked: `json` holds only JSONSerialization's immutable value types.
    let status: Int
    let json: [String: Any]
    let headers: HTTPFields

    var code: String? { json["code"] as? String }
    subscript(key: String) -> Any? { json[key] }
}

/// Calls the API as a client would.
struct TestAPI: Sendable {
    let client: any TestClientProtocol

    func call(_ method: HTTPRequest.Method, _ path: String, key: String? = nil, token: String? = nil,
              body: String? = nil, headers extra: HTTPFields = [:]) async throws -> Reply {
        var headers = extra
        if let key { headers[.authorization] = "Bearer \(key)" }
        if let token { headers[.queueToken] = token }
        if body != nil { headers[.contentType] = "application/json" }
        return try await client.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
            let object = (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any]
            return Reply(status: Int(response.status.code), json: object ?? [:], headers: response.headers)
        }
    }

    /// A new user: (id, API key).
    func newUser(_ name: String = "fan") async throws -> (id: Int64, key: String) {
        let reply = try await call(.post, "/v1/users", body: #"{"name": "\#(name)"}"#)
        guard reply.status == 201, let id = reply["userId"] as? Int, let key = reply["apiKey"] as? String else {
            throw TestSetupError("could not create a user: \(reply.status) \(reply.json)")
        }
        return (Int64(id), key)
    }

    /// A user's queue token (issued or the live one).
    func token(_ key: String) async throws -> Reply {
        try await call(.post, "/v1/queue/tokens", key: key)
    }
}
