import PostgresNIO
import Testing
import TestSupport

/// What deploy/kubernetes asks of the database works on a real one.
@Suite("Deploy manifests against the schema")
struct DeployManifestTests {
    @Test("KEDA's PostgreSQL trigger query counts the runnable queued jobs of a migrated database")
    func kedaQuery() async throws {
        let manifest = try Checkout.text("deploy/kubernetes/keda.yaml")
        let query = try #require(manifest.firstMatch(of: /query: "([^"]+)"/).map { String($0.1) }, "no query in keda.yaml")
        try await TestDatabase.withDatabase { client, _ in
            try await client.query("""
                INSERT INTO jobs (kind, payload, run_at) SELECT 'noop', '{}', now() - interval '1 second' FROM generate_series(1, 7);
                """)
            try await client.query("INSERT INTO jobs (kind, payload, run_at) VALUES ('noop', '{}', now() + interval '1 hour')")
            try await client.query("""
                INSERT INTO jobs (kind, payload, state, finished_at, response_status, response_body)
                VALUES ('noop', '{}', 'dead', now(), 503, '{}'), ('noop', '{}', 'succeeded', now(), 200, '{}')
                """)
            let count = try await client.scalar(PostgresQuery(unsafeSQL: query), as: Int64.self)
            #expect(count == 7)
        }
    }
}
