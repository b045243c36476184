import Foundation
import Hummingbird
import Logging
@testable import Gateway
import Shared
import Testing
import TestSupport
import Yams

@Suite("openapi.yaml matches the router")
struct OpenAPITests {
    static let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]

    /// The top-level document, read from the checkout (not the embedded copy).
    static func document() throws -> [String: Any] {
        let text = try Checkout.text("openapi.yaml")
        return try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    /// "METHOD /path/{param}" for every operation in the document.
    static func documentedRoutes() throws -> Set<String> {
        let paths = try #require(try document()["paths"] as? [String: Any])
        var routes: Set<String> = []
        for (path, item) in paths {
            let operations = try #require(item as? [String: Any], "\(path) has no operations")
            for method in operations.keys where methods.contains(method) {
                routes.insert("\(method.uppercased()) \(path)")
            }
        }
        return routes
    }

    @Test("every router route is documented, and every documented route is routed")
    func routesMatch() async throws {
        let documented = try Self.documentedRoutes()
        #expect(documented.count >= 19)
        try await TestGateway.run { api, client in
            let settings = try Settings(values: ["DATABASE_URL": "postgres://x@127.0.0.1:1/x"])
            let parts = GatewayParts(settings: settings, client: client)
            let router = buildRouter(settings: settings, client: client, parts: parts, logger: Logger(label: "test.openapi"))
            let routed = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
            #expect(routed.subtracting(documented).isEmpty, "routed but not in openapi.yaml: \(routed.subtracting(documented).sorted())")
            #expect(documented.subtracting(routed).isEmpty, "in openapi.yaml but not routed: \(documented.subtracting(routed).sorted())")
            // The 405 check knows the same routes.
            let listed = Set(Routes.all.map { "\($0.method) \($0.path)" })
            #expect(listed == routed, "Routes.all differs from the router: \(listed.symmetricDifference(routed).sorted())")
        }
    }

    @Test("every documented problem code and status is one of docs/api.md's")
    func problemCodes() throws {
        let document = try Self.document()
        let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let problem = try #require(schemas["Problem"] as? [String: Any])
        let code = try #require((problem["properties"] as? [String: Any])?["code"] as? [String: Any])
        let codes = Set(try #require(code["enum"] as? [String]))
        #expect(codes == [
            "invalid_request", "unauthorized", "queue_token_invalid", "queue_token_not_active", "not_found",
            "method_not_allowed", "seat_unavailable", "already_reserved", "already_paid", "idempotency_conflict",
            "queue_token_wrong_room", "concert_in_room", "job_not_dead", "insufficient_points", "hold_expired", "payload_too_large", "rate_limited", "unavailable",
        ])
    }

    @Test("GET /openapi.yaml serves the top-level document byte for byte")
    func served() async throws {
        let onDisk = try Data(contentsOf: Checkout.url("openapi.yaml"))
        try await TestGateway.run { api, _ in
            let (status, headers, body) = try await api.raw(.get, "/openapi.yaml")
            #expect(status == 200)
            #expect(headers[.contentType]?.hasPrefix("application/yaml") == true)
            #expect(body == onDisk)
            let reply = try await api.call(.post, "/openapi.yaml")
            #expect(reply.status == 405 && reply.code == "method_not_allowed")
        }
    }
}
