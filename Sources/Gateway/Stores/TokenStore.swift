import Foundation
import Logging
import NIOCore
import PostgresNIO
import Shared

/// A queue token as the gateway reads it, with its room's state from the same statement.
struct TokenRow: Sendable {
    let id: Int64
    let userID: Int64
    let roomID: Int64
    /// Its place in the room's line: in the pre-queue (its room `scheduled`) the place it took on
    /// arrival, which the opening's draw deals out again.
    let place: Int64?
    let status: String
    let activatedAt: Date?
    let expiresAt: Date?
    let lastSeenAt: Date
    let salt: [UInt8]
    let now: Date
    /// The room's `state`, `opens_at`, admitted-through mark, and its rate and idle TTL in force.
    let roomState: String
    let opensAt: Date?
    let admittedThrough: Int64
    let admitPerSecond: Double
    let idleTTL: Double
    /// The status a client should see: a token past its TTL is expired even before the queue worker
    /// says so. Computed by the reading statement (`stagedoor_token_status`), the rule's one home.
    let effectiveStatus: String

    /// Whether this waiting token's last-seen time is old enough to be written again:
    /// at most every min(30 s, idle TTL / 4), so polls rarely write.
    var lastSeenIsDue: Bool {
        status == "waiting" && now.timeIntervalSince(lastSeenAt) >= Self.touchInterval(idleTTL: idleTTL)
    }

    /// Seconds between writes of a polled token's `last_seen_at`: min(30 s, idle TTL / 4).
    static func touchInterval(idleTTL: Double) -> Double { min(30, idleTTL / 4) }
}

/// Issues and reads queue tokens. The only gateway code touching `queue_tokens`.
struct TokenStore: Sendable {
    let database: GatewayDatabase
    let cache = WaitingLineCache()
    /// Concurrent first requests for a token leave together: one CALL and one commit per batch.
    private let issues: Batcher<Statements.IssueRequest, Statements.IssueOutcome>
    /// Concurrent lookups by token hash leave together, one statement per batch.
    private let lookups: Batcher<[UInt8], TokenRow?>
    /// The same, for polls, on a fresh replica when there is one (``GatewayDatabase/read(confirmOnPrimary:_:)``).
    private let replicaLookups: Batcher<[UInt8], TokenRow?>

    init(database: GatewayDatabase) {
        self.database = database
        lookups = lookupBatcher(maxBatch: 128) { [database] hashes in
            try await database.client.executeStatement(Statements.ByHashes(hashes: hashes), logger: database.logger).reduce(into: []) { $0.append($1) }
        }
        replicaLookups = lookupBatcher(maxBatch: 128) { [database] hashes in
            try await database.read { client in
                try await client.executeStatement(Statements.ByHashes(hashes: hashes), logger: database.logger).reduce(into: []) { $0.append($1) }
            }
        }
        issues = Batcher(maxBatch: 64, maxInFlight: 1) { [database] requests in
            // One CALL inserts and commits: its row comes only after the commit (`stagedoor_issue_tokens`).
            try await database.client.callCommitting(Statements.IssueForKeys(requests: requests), logger: database.logger)
        }
    }

    /// The live token in `roomID` of the user with this API key, or a new one at the back of that
    /// room's line (in its pre-queue while the room is scheduled); `created` says which; nil when no
    /// user has the key; `404` when there is no such room. The common case — a user with no live
    /// token there — is one statement, shared with the requests arriving at the same time: find the
    /// user and insert the token. Race-safe: concurrent calls for one user and room give one token.
    func issue(apiKey: String, digest: [UInt8], roomID: Int64) async throws -> (row: TokenRow, token: String, created: Bool)? {
        for _ in 0..<3 {
            let salt = Secrets.randomBytes(16)
            let token = Secrets.derive(key: apiKey, salt: salt)
            let request = Statements.IssueRequest(keyHash: digest, roomID: roomID, tokenHash: Secrets.sha256(token), salt: salt)
            switch try await database.batched({ try await issues.submit(request, within: $0) }) {
            case .unknownKey: return nil
            case .unknownRoom: throw Problem.notFound
            case .inserted(let row): return (row, token, true)
            case .hasLiveToken(let userID):
                guard let live = try await fetch(Statements.live(userID: userID, roomID: roomID)) else { continue }
                if live.effectiveStatus == live.status {
                    if live.lastSeenIsDue { try await touch(live) }
                    return (live, Secrets.derive(key: apiKey, salt: live.salt), false)
                }
                // Past its TTL before the queue worker got to it: end it, and take a new place.
                try await database.run {
                    try await $0.run(Statements.expireStale(userID: userID, roomID: roomID), logger: database.logger)
                }
            }
        }
        throw Problem.unavailable("Could not issue a queue token; retry.")
    }

    /// The token with this secret, if any.
    func find(token: String) async throws -> TokenRow? {
        try await find(hash: Secrets.sha256(token))
    }

    private func find(hash: [UInt8]) async throws -> TokenRow? {
        try await database.batched { try await lookups.submit(hash, within: $0) }
    }

    /// A poll: the user's token with this secret (nil if unknown or another user's), from this
    /// gateway's memory while it is surely still waiting (see `WaitingLineCache`), else from a fresh
    /// replica, else from the primary, writing `last_seen_at` when due.
    ///
    /// A replica's row is at most `REPLICA_MAX_LAG` old: its room's admission mark can only be behind
    /// the primary's, so the place it shows is never shorter than the truth (the pre-queue shows none),
    /// and a status it has not caught up on yet shows a moment later. Asked of the primary instead: a
    /// token the replica does not have (just issued), and a waiting token whose `last_seen_at` is due
    /// to be written (the write goes to the primary, and the row that records it comes from there, so
    /// a token the queue worker expired meanwhile is never remembered as waiting).
    func poll(token: String, userID: Int64) async throws -> TokenRow? {
        let hash = Secrets.sha256(token)
        if let row = cache.waitingToken(hash: hash, userID: userID) { return row }
        if database.hasFreshReplica, let row = try await database.batched({ try await replicaLookups.submit(hash, within: $0) }) {
            guard row.userID == userID else { return nil }  // a token never changes owner
            if !(row.effectiveStatus == "waiting" && row.lastSeenIsDue) {
                cache.remember(row, hash: hash, touched: false)
                return row
            }
        }
        guard let row = try await find(hash: hash), row.userID == userID else { return nil }
        let touched = row.effectiveStatus == "waiting" && row.lastSeenIsDue
        if touched { try await touch(row) }
        cache.remember(row, hash: hash, touched: touched)
        return row
    }

    /// Records a poll of a waiting token.
    func touch(_ row: TokenRow) async throws {
        try await database.run { try await $0.run(Statements.touch(id: row.id), logger: database.logger) }
    }

    /// The first row of `query`.
    private func fetch(_ query: PostgresQuery) async throws -> TokenRow? {
        try await database.run { client in
            var found: TokenRow?
            for try await row in try await client.query(query, logger: database.logger) where found == nil {
                found = try Statements.decode(row)
            }
            return found
        }
    }
}
