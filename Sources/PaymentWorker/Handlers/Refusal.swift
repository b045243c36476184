import Foundation
import Shared

/// The refusals handlers answer with: finished jobs carrying docs/api.md's 4xx problems.
enum Refusal {
    static func make(_ status: Int, _ code: String, _ title: String, _ detail: String, extra: [String: JSONObjectText.Value] = [:]) -> JobOutcome {
        JobOutcome(status: status, body: ProblemDocument.json(status: status, code: code, title: title, detail: detail, extra: extra))
    }

    static let notFound = make(404, "not_found", "Not found", "No such resource.")
    static let seatUnavailable = Booking.seatUnavailable
    static let alreadyReserved = make(409, "already_reserved", "Already reserved",
                                      "You already hold the most seats allowed in this schedule (\(Booking.maxHoldsPerSchedule)).")
    static let alreadyPaid = make(409, "already_paid", "Already paid", "This reservation is already paid.")
    static let holdExpired = make(410, "hold_expired", "Hold expired", "The hold on this seat ran out or was cancelled.")
    static func invalid(_ detail: String) -> JobOutcome { make(400, "invalid_request", "Invalid request", detail) }
    static func insufficientPoints(balance: Int64, required: Int64) -> JobOutcome {
        make(402, "insufficient_points", "Insufficient points", "Your balance is below the price.",
             extra: ["balance": .int(balance), "required": .int(required)])
    }

    /// A success body, keys sorted, dates RFC 3339.
    static func success(_ status: Int, _ value: some Encodable) throws -> JobOutcome {
        let encoder = JSONEncoder.sorted
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(JSONObjectText.rfc3339(date))
        }
        return JobOutcome(status: status, body: String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}
