import Foundation
import Logging
import PostgresNIO
import Shared

/// `charge_points`: locks the wallet row, adds the amount, appends a `charge` history entry.
struct ChargePointsHandler: JobHandler {
    let kind = JobKind.chargePoints

    func run(_ job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> JobOutcome {
        let payload = try job.decodePayload(ChargePointsPayload.self)
        var balance: Int64?
        for try await value in try await connection.query(
            "SELECT balance FROM wallets WHERE user_id = \(payload.userId) FOR UPDATE", logger: logger).decode(Int64.self) {
            balance = value
        }
        guard let balance else {
            return JobOutcome(status: 404, body: ProblemDocument.json(status: 404, code: "not_found", title: "Not found", detail: "No such wallet."))
        }
        guard balance <= Points.maxBalance - payload.amount else {
            return JobOutcome(status: 400, body: ProblemDocument.json(
                status: 400, code: "invalid_request", title: "Invalid request",
                detail: "The charge would take the balance above \(Points.maxBalance) points."))
        }
        let newBalance = balance + payload.amount
        try await connection.run("""
            WITH w AS (UPDATE wallets SET balance = \(newBalance), updated_at = now() WHERE user_id = \(payload.userId))
            INSERT INTO point_history (user_id, kind, amount, balance_after) VALUES (\(payload.userId), 'charge', \(payload.amount), \(newBalance))
            """, logger: logger)
        let body = try JSONEncoder.sorted.encode(WalletBody(userId: payload.userId, balance: newBalance))
        return JobOutcome(status: 200, body: String(decoding: body, as: UTF8.self))
    }
}

extension JSONEncoder {
    /// Sorted keys: stable bodies across processes.
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
