import PostgresNIO

extension PostgresClient {
    /// The first column of the first row as `T` (tests' shorthand for `SELECT count(*) …`).
    public func scalar<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: T.Type = T.self) async throws -> T? {
        for try await value in try await self.query(query).decode(T.self) { return value }
        return nil
    }
}
