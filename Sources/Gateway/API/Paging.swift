import Hummingbird

/// A list's paging query, `?limit=&before=<id>`: the newest first, `limit` of them, ids below `before`.
struct Paging {
    let limit: Int
    /// `Int64.max` when absent.
    let before: Int64

    /// Reads `limit` (in `limits`, else `defaultLimit`) and `before` (a positive id); anything else is `400`.
    init(_ request: Request, limits: ClosedRange<Int>, defaultLimit: Int = 50) throws {
        let query = request.uri.queryParameters
        limit = try query.get("limit").map { raw -> Int in
            guard let value = Int(raw), limits.contains(value) else {
                throw Problem.invalidRequest("'limit' must be \(limits.lowerBound) to \(limits.upperBound).")
            }
            return value
        } ?? defaultLimit
        before = try query.get("before").map { raw -> Int64 in
            guard let value = Int64(raw), value > 0 else { throw Problem.invalidRequest("'before' must be a positive integer.") }
            return value
        } ?? Int64.max
    }
}
