import Hummingbird
import PostgresNIO
import Shared
import Synchronization

/// Resolves `Authorization: Bearer <apiKey>` to a user id. Keys never change and users are never
/// deleted, so resolved keys are remembered (by digest, bounded) and most requests skip the database.
final class Authenticator: Sendable {
    private let database: GatewayDatabase
    private let limiter: RateLimiter
    private let known = Mutex<[KeyDigest: Int64]>([:])
    private let capacity = 200_000
    /// Concurrent lookups of unknown keys leave together, one statement per batch.
    private let lookups: Batcher<[UInt8], Int64?>

    init(database: GatewayDatabase, rateLimit: Double) {
        self.database = database
        limiter = RateLimiter(rate: rateLimit)
        lookups = lookupBatcher(maxBatch: 128) { [database] digests in
            try await database.client.executeStatement(UsersByKeys(digests: digests), logger: database.logger).reduce(into: []) { $0.append($1) }
        }
    }

    /// The bearer key of `Authorization: Bearer <apiKey>` and its digest, not yet checked, or
    /// `401 unauthorized`; `429 rate_limited` when the key is over its request budget.
    func credentials(_ request: Request) throws -> (apiKey: String, digest: [UInt8]) {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { throw Problem.unauthorized }
        // Spaces and tabs around the key are ignored (trimmed by hand: Foundation's trimming was a
        // noticeable share of a poll's CPU).
        var key = header.utf8.dropFirst(7)
        while let first = key.first, first == 0x20 || first == 0x09 { key = key.dropFirst() }
        while let last = key.last, last == 0x20 || last == 0x09 { key = key.dropLast() }
        guard !key.isEmpty, key.count <= 200, let text = String(key) else { throw Problem.unauthorized }
        let digest = Secrets.sha256(text)
        try limiter.spend(digest: digest)
        return (text, digest)
    }

    /// Gives back the request budget that ``credentials(_:)`` spent for this digest.
    func refund(digest: [UInt8]) {
        limiter.refund(digest: digest)
    }

    /// The user of a key digest this gateway has already resolved.
    func knownUser(digest: [UInt8]) -> Int64? {
        known.withLock { $0[KeyDigest(digest)] }
    }

    /// Remembers a digest resolved elsewhere (e.g. inside a statement that also did the request's work).
    func learn(digest: [UInt8], userID: Int64) {
        let key = KeyDigest(digest)
        known.withLock { cache in
            if cache.count >= capacity { cache.removeAll(keepingCapacity: true) }
            cache[key] = userID
        }
    }

    /// The caller's user id and API key, or `401 unauthorized`.
    func authenticate(_ request: Request) async throws -> (userID: Int64, apiKey: String) {
        let (key, digest) = try credentials(request)
        return (try await userID(digest: digest), key)
    }

    /// The user of credentials already read with ``credentials(_:)``, or `401 unauthorized`.
    func userID(digest: [UInt8]) async throws -> Int64 {
        if let userID = knownUser(digest: digest) { return userID }
        let found = try await database.batched { try await lookups.submit(digest, within: $0) }
        guard let userID = found else { throw Problem.unauthorized }
        learn(digest: digest, userID: userID)
        return userID
    }
}

extension Authenticator {
    /// The users with these API-key digests, prepared once per connection (a fan's first requests).
    struct UsersByKeys: PostgresPreparedStatement {
        /// One unique-index probe per digest (see `TokenStore.Statements.ByHashes`).
        static let sql = """
            SELECT h.digest, u.id FROM unnest($1::bytea[]) AS h(digest)
            CROSS JOIN LATERAL (SELECT id FROM users WHERE api_key_hash = h.digest LIMIT 1) u
            """
        typealias Row = ([UInt8], Int64)

        let digests: [[UInt8]]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(digests.map { ByteBuffer(bytes: $0) })
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            let (digest, id) = try row.decode((ByteBuffer, Int64).self)
            return (Array(digest.readableBytesView), id)
        }
    }
}
