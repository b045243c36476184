import Foundation
import Hummingbird
import PostgresNIO
import Shared

/// `GET /v1/points` (read directly) and `POST /v1/points/charge` (a `charge_points` job).
struct PointsController<Context: RequestContext> {
    let auth: Authenticator
    let database: GatewayDatabase
    let replies: JobReplies

    func addRoutes(to router: Router<Context>) {
        router.get(RouterPath(Routes.points)) { request, _ in try await balance(request) }
        router.post(RouterPath(Routes.charge)) { request, _ in try await charge(request) }
        router.get(RouterPath(Routes.history)) { request, _ in try await history(request) }
    }

    struct HistoryEntry: Encodable { let id: Int64; let kind: String; let amount: Int64; let balanceAfter: Int64; let at: Date }
    struct History: Encodable { let entries: [HistoryEntry] }

    /// `GET /v1/points/history?limit=50&before=<id>`: the caller's ledger, newest first.
    func history(_ request: Request) async throws -> Response {
        let caller = try await auth.authenticate(request)
        let paging = try Paging(request, limits: 1...100)
        let (limit, before) = (paging.limit, paging.before)
        let entries = try await database.read { client in
            var entries: [HistoryEntry] = []
            for try await (id, kind, amount, after, at) in try await client.query("""
                SELECT id, kind, amount, balance_after, created_at FROM point_history
                WHERE user_id = \(caller.userID) AND id < \(before) ORDER BY id DESC LIMIT \(limit)
                """).decode((Int64, String, Int64, Int64, Date).self) {
                entries.append(HistoryEntry(id: id, kind: kind, amount: amount, balanceAfter: after, at: at))
            }
            return entries
        }
        return try JSONBody.response(History(entries: entries))
    }

    struct ChargeRequest: Decodable { let amount: Int64 }

    func balance(_ request: Request) async throws -> Response {
        let caller = try await auth.authenticate(request)
        let balance = try await database.read { client in
            for try await value in try await client.query("SELECT balance FROM wallets WHERE user_id = \(caller.userID)")
                .decode(Int64.self) { return value }
            return Int64(0)
        }
        return try JSONBody.response(WalletBody(userId: caller.userID, balance: balance))
    }

    func charge(_ request: Request) async throws -> Response {
        let caller = try await auth.authenticate(request)
        // A replay is answered by the enqueue (`stagedoor_insert_jobs`), or below if the body is refused first.
        let write = try await replies.begin(request, userID: caller.userID, kind: .chargePoints)
        let amount: Int64
        do {
            amount = try JSONBody.decode(ChargeRequest.self, from: write.body).amount
            guard Points.chargeRange.contains(amount) else {
                throw Problem.invalidRequest("'amount' must be a whole number from 1 to 1,000,000,000.")
            }
        } catch {
            return try await replies.replay(of: write, orThrow: error)
        }
        return try await replies.run(write, payload: ChargePointsPayload(userId: caller.userID, amount: amount))
    }
}
