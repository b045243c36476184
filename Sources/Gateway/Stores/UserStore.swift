import NIOCore
import PostgresNIO
import Shared

/// Creates users (each with an empty wallet). The only gateway code inserting into `users`.
struct UserStore: Sendable {
    let database: GatewayDatabase

    /// Inserts a user and their wallet in one statement; returns the new id.
    func create(name: String, apiKeyHash: [UInt8]) async throws -> Int64 {
        try await database.run { client in
            let rows = try await client.query(Statements.create(name: name, apiKeyHash: apiKeyHash), logger: database.logger)
            for try await id in rows.decode(Int64.self) { return id }
            throw Problem.unavailable()
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
