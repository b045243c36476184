import Foundation

/// A reservation as docs/api.md shows it; `paidAt` is null until paid.
public struct ReservationBody: Encodable, Sendable {
    public let reservationId: Int64
    public let scheduleId: Int64
    public let seatNo: Int
    public let status: String
    public let price: Int64
    public let holdExpiresAt: Date
    public let paidAt: Date?

    public init(reservationId: Int64, scheduleId: Int64, seatNo: Int, status: String, price: Int64, holdExpiresAt: Date, paidAt: Date?) {
        self.reservationId = reservationId
        self.scheduleId = scheduleId
        self.seatNo = seatNo
        self.status = status
        self.price = price
        self.holdExpiresAt = holdExpiresAt
        self.paidAt = paidAt
    }

    enum CodingKeys: String, CodingKey { case reservationId, scheduleId, seatNo, status, price, holdExpiresAt, paidAt }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(reservationId, forKey: .reservationId)
        try container.encode(scheduleId, forKey: .scheduleId)
        try container.encode(seatNo, forKey: .seatNo)
        try container.encode(status, forKey: .status)
        try container.encode(price, forKey: .price)
        try container.encode(holdExpiresAt, forKey: .holdExpiresAt)
        try container.encode(paidAt, forKey: .paidAt)
    }
}
