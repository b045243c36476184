import Hummingbird
import PostgresNIO
import Shared
import Synchronization

/// Resolves `Authorization: Bearer <apiKey>` to a user id. Keys never change and users are never
/// deleted, so resolved keys are remembered (by digest, bounded) and most requests skip the database.
final class Authenticator: Sendable {
    private let database: GatewayDatabase
    private let known = Mutex<[[UInt8]: Int64]>([:])
    private let capacity = 200_000

    init(database: GatewayDatabase) {
        self.database = database
    }

    /// The caller's user id and API key, or `401 unauthorized`.
    func authenticate(_ request: Request) async throws -> (userID: Int64, apiKey: String) {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              case let key = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces),
              !key.isEmpty, key.count <= 200 else { throw Problem.unauthorized }
        let digest = Secrets.sha256(key)
        if let userID = known.withLock({ $0[digest] }) { return (userID, key) }
        let found = try await database.run { client in
            let rows = try await client.query("SELECT id FROM users WHERE api_key_hash = \(ByteBuffer(bytes: digest))")
            for try await id in rows.decode(Int64.self) { return Optional(id) }
            return nil
        }
        guard let userID = found else { throw Problem.unauthorized }
        known.withLock { cache in
            if cache.count >= capacity { cache.removeAll(keepingCapacity: true) }
            cache[digest] = userID
        }
        return (userID, key)
    }
}
