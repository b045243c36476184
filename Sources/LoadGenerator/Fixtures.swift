import Foundation
import Logging
import PostgresNIO
import Shared

/// Benchmark fixtures written straight into the database: users that already hold an active queue
/// token (admission at 50/s would otherwise be the whole benchmark), and schedules of 1,000 seats.
/// API key `<prefix>key<n>`, token `<prefix>tok<n>`, both known to the generator.
struct Fixtures {
    let client: PostgresClient
    let logger = Logger(label: "stagedoor-load.fixtures")

    /// Runs `body` with a client for `url`.
    static func with<T: Sendable>(_ url: String, _ body: @Sendable (Fixtures) async throws -> T) async throws -> T {
        guard let parsed = DatabaseURL(parsing: url) else { throw FixtureError("invalid --database-url") }
        let client = PostgresClient(configuration: parsed.clientConfiguration(poolSize: 4, applicationName: "stagedoor-load"))
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { await client.run(); return nil }
            defer { group.cancelAll() }
            do {
                return try await body(Fixtures(client: client))
            } catch let error as PSQLError {
                throw FixtureError(String(reflecting: error))  // the server's message, not PSQLError's redacted one
            }
        }
    }

    /// `count` users with active tokens (made once per prefix); returns (key, token) pairs in order.
    /// Users are named `<prefix>:<n>`: without the colon, prefix `warm1`'s first user would be
    /// prefix `warm`'s eleventh, and the fixtures of `warm1` would never be made.
    func activeUsers(prefix: String, count: Int) async throws -> [(key: String, token: String)] {
        let first = prefix + ":1"
        var exists = false
        for try await _ in try await client.query("SELECT 1 FROM users WHERE name = \(first)", logger: logger) { exists = true }
        if !exists { try await client.run("""
            WITH u AS (
                INSERT INTO users (name, api_key_hash)
                SELECT \(prefix) || ':' || n, sha256((\(prefix) || 'key' || n)::bytea) FROM generate_series(1, \(count)) n
                RETURNING id, name
            ), w AS (
                INSERT INTO wallets (user_id) SELECT id FROM u
            )
            INSERT INTO queue_tokens (user_id, token_hash, salt, status, activated_at, expires_at)
            SELECT id, sha256((\(prefix) || 'tok' || substr(name, \(prefix.count + 2)::int))::bytea),
                   '\\x00000000000000000000000000000000'::bytea, 'active', now(), now() + interval '1 hour'
            FROM u
            """, logger: logger) }
        return (1...count).map { ("\(prefix)key\($0)", "\(prefix)tok\($0)") }
    }

    /// The schedule ids of the concert titled `name`, made with `schedules` schedules of `seats`
    /// seats each unless it exists.
    func concert(named name: String, schedules: Int, seats: Int, price: Int64) async throws -> [Int64] {
        var ids: [Int64] = []
        for try await id in try await client.query("""
            SELECT s.id FROM schedules s JOIN concerts c ON c.id = s.concert_id WHERE c.title = \(name) ORDER BY s.id
            """, logger: logger).decode(Int64.self) { ids.append(id) }
        if !ids.isEmpty { return ids }
        for try await id in try await client.query("""
            WITH c AS (INSERT INTO concerts (title, artist) VALUES (\(name), 'The Load') RETURNING id),
            s AS (
                INSERT INTO schedules (concert_id, starts_at, price, total_seats)
                SELECT c.id, now() + make_interval(days => (30 + n)::int), \(price), \(seats) FROM c, generate_series(1, \(schedules)::int) n
                RETURNING id
            ), seat AS (
                INSERT INTO seats (schedule_id, seat_no) SELECT s.id, n FROM s, generate_series(1, \(seats)::int) n
            )
            SELECT id FROM s ORDER BY id
            """, logger: logger).decode(Int64.self) { ids.append(id) }
        return ids
    }
}

extension Fixtures {
    /// How many reservations these schedules have.
    func reservations(in schedules: [Int64]) async throws -> Int {
        for try await count in try await client.query(
            "SELECT count(*)::int FROM reservations WHERE schedule_id = ANY(\(schedules))", logger: logger).decode(Int.self) {
            return count
        }
        return 0
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
