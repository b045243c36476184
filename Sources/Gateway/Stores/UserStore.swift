import NIOCore
import PostgresNIO
import Shared

/// Creates users (each with an empty wallet). The only gateway code inserting into `users`.
struct UserStore: Sendable {
    let database: GatewayDatabase

    /// Inserts a user and their wallet in one statement; returns the new id once the commit is
    /// confirmed (the caller shows the key once: it must exist).
    func create(name: String, apiKeyHash: [UInt8]) async throws -> Int64 {
        try await database.run { client in
            let created = try await client.committed(logger: database.logger) { connection in
                var id: Int64?
                for try await row in try await connection.query(Statements.create(name: name, apiKeyHash: apiKeyHash), logger: database.logger)
                    .decode(Int64.self) { id = row }
                return id
            }
            guard let created else { throw Problem.unavailable() }
            return created
        }
    }

    enum Statements {
        static func create(name: String, apiKeyHash: [UInt8]) -> PostgresQuery {
            """
            WITH u AS (
                INSERT INTO users (name, api_key_hash) VALUES (\(name), \(ByteBuffer(bytes: apiKeyHash))) RETURNING id
            ), w AS (
                INSERT INTO wallets (user_id) SELECT id FROM u
            )
            SELECT id FROM u
            """
        }
    }
}
