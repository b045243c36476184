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
    }

    struct ChargeRequest: Decodable { let amount: Int64 }

    func balance(_ request: Request) async throws -> Response {
        let caller = try await auth.authenticate(request)
        let balance = try await database.run { client in
            for try await value in try await client.query("SELECT balance FROM wallets WHERE user_id = \(caller.userID)")
                .decode(Int64.self) { return value }
            return Int64(0)
        }
        return try JSONBody.response(WalletBody(userId: caller.userID, balance: balance))
    }

    func charge(_ request: Request) async throws -> Response {
        let caller = try await auth.authenticate(request)
        let key = try JobReplies.idempotencyKey(request)
        let raw = try await JSONBody.collect(request)
        let hash = JobReplies.requestHash(raw)
        if let replay = try await replies.replay(userID: caller.userID, kind: .chargePoints, key: key, hash: hash) { return replay }
        let body = try JSONBody.decode(ChargeRequest.self, from: raw)
        guard Points.chargeRange.contains(body.amount) else {
            throw Problem.invalidRequest("'amount' must be a whole number from 1 to 1,000,000,000.")
        }
        return try await replies.run(kind: .chargePoints, payload: ChargePointsPayload(userId: caller.userID, amount: body.amount),
                                     userID: caller.userID, key: key, hash: hash)
    }
}
