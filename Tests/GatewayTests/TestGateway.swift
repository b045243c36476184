import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
@testable import Gateway
@testable import PaymentWorker
@testable import QueueWorker
import Shared
import TestSupport

/// A gateway router over a fresh database, driven through Hummingbird's router test client;
/// optionally with the queue worker's admission running in-process.
enum TestGateway {
    static func run<T: Sendable>(
        _ overrides: [String: String] = [:], admission: Bool = false, paymentWorker: Bool = false,
        _ body: @escaping @Sendable (TestAPI, PostgresClient) async throws -> T
    ) async throws -> T {
        try await TestDatabase.withDatabase(poolSize: 20) { client, url in
            var values = overrides
            values["DATABASE_URL"] = url.urlString
            // Tests send hundreds of concurrent requests with one key; the limiter has its own test.
            if values["RATE_LIMIT"] == nil { values["RATE_LIMIT"] = "0" }
            let settings = try Settings(values: values)
            let parts = GatewayParts(settings: settings, client: client)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                for service in parts.services {
                    group.addTask {
                        try await service.run()
                        return nil
                    }
                }
                if paymentWorker {
                    group.addTask {
                        try await TestPaymentWorker.run(settings: settings, client: client)
                        return nil
                    }
                }
                group.addTask {
                    try await StreamKeeper(line: parts.line, client: client, logger: Logger(label: "test.streams")).run()
                    return nil
                }
                if admission {
                    group.addTask {
                        try await AdmissionService(settings: settings, logger: Logger(label: "test.admission")).run()
                        return nil
                    }
                }
                group.addTask {
                    let router = buildRouter(settings: settings, client: client, parts: parts, logger: Logger(label: "test.gateway"))
                    return try await Application(responder: gatewayResponder(router)).test(.router) { http in try await body(TestAPI(client: http), client) }
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

/// The payment worker's claim loops and listener, in-process, with the real handlers.
enum TestPaymentWorker {
    static func run(settings: Settings, client: PostgresClient) async throws {
        let wake = WakeSignal()
        let runner = JobRunner(client: client, handlers: paymentHandlers(settings: settings), batchSize: settings.workerBatch,
                               logger: Logger(label: "test.payment"))
        let worker = JobWorker(runner: runner, wake: wake, concurrency: 2, pollInterval: .seconds(1), logger: Logger(label: "test.payment"))
        let listener = NotificationListener(
            url: settings.databaseURL, channels: [JobStore.jobsChannel], applicationName: "stagedoor-test-payment-listener",
            logger: Logger(label: "test.payment"), onConnect: { wake.signal() }, onNotification: { _, _ in wake.signal() })
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await listener.run() }
            group.addTask { try await worker.run() }
        }
    }
}

/// A parsed answer.
struct Reply: @unchecked Sendable {
    // @unchecked: `json` holds only JSONSerialization's immutable value types.
    let status: Int
    let json: [String: Any]
    let headers: HTTPFields
    /// The body as sent.
    let text: String

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
            return Reply(status: Int(response.status.code), json: object ?? [:], headers: response.headers, text: String(buffer: response.body))
        }
    }

    /// The status, headers and raw body bytes.
    func raw(_ method: HTTPRequest.Method, _ path: String) async throws -> (status: Int, headers: HTTPFields, body: Data) {
        try await client.execute(uri: path, method: method, headers: [:], body: nil) { response in
            (Int(response.status.code), response.headers, Data(response.body.readableBytesView))
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

/// The real charge handler, for tests that run a batch by hand.
enum ChargeForTest {
    static var handler: any JobHandler { paymentHandlers(settings: .defaults)[0] }
}
