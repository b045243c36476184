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
    /// Adds `count` fans with a waiting token each at the back of `room`'s line (its pre-queue while
    /// the room is scheduled), in user-id order, seen an hour ahead (so none expires as idle). Their
    /// secrets are not known: for admission tests, not HTTP polls.
    public func fillWaitingLine(count: Int, room: Int64 = 1) async throws {
        try await query("""
            WITH u AS (
                INSERT INTO users (name, api_key_hash)
                SELECT 'fan', sha256(('k' || \(room)::bigint || '-' || gen_random_uuid() || '-' || n)::bytea)
                FROM generate_series(1, \(count)) n
                RETURNING id
            )
            INSERT INTO queue_tokens (user_id, room_id, token_hash, salt, last_seen_at, place)
            SELECT u.id, \(room), sha256(('t' || u.id)::bytea), '\\x00000000000000000000000000000000'::bytea,
                   now() + interval '1 hour', nextval(format('room_places_%s', \(room)::bigint)::regclass)
            FROM u ORDER BY u.id
            """)
    }
}
