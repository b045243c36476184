import PostgresNIO

extension PostgresClient {
    /// The first column of the first row as `T` (tests' shorthand for `SELECT count(*) …`).
    public func scalar<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: T.Type = T.self) async throws -> T? {
        for try await value in try await self.query(query).decode(T.self) { return value }
        return nil
    }

    /// The first column of every row as `T`, in the query's order.
    public func column<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: T.Type = T.self) async throws -> [T] {
        try await self.query(query).decode(T.self).reduce(into: []) { $0.append($1) }
    }
}

extension PostgresClient {
    /// Puts `count` new users in the waiting line, in insertion order, with tokens that will not
    /// expire as idle for an hour (their secrets are not known: for admission tests, not HTTP polls).
    public func fillWaitingLine(count: Int) async throws {
        try await query("""
            INSERT INTO users (name, api_key_hash) SELECT 'fan', sha256(('k' || n)::bytea) FROM generate_series(1, \(count)) n
            """)
        try await query("""
            INSERT INTO queue_tokens (user_id, token_hash, salt, last_seen_at)
            SELECT id, sha256(('t' || id)::bytea), '\\x00000000000000000000000000000000'::bytea, now() + interval '1 hour'
            FROM users WHERE name = 'fan' AND NOT EXISTS (SELECT 1 FROM queue_tokens q WHERE q.user_id = users.id) ORDER BY id
            """)
    }
}
