/// The job kinds gateways enqueue and payment workers run.
extension JobKind {
    /// Adds points to a wallet: payload `{"userId", "amount"}`.
    public static let chargePoints = JobKind("charge_points")
}

/// A charge job's input.
public struct ChargePointsPayload: Codable, Sendable {
    public let userId: Int64
    public let amount: Int64
    public init(userId: Int64, amount: Int64) {
        self.userId = userId
        self.amount = amount
    }
}

/// A wallet as docs/api.md shows it.
public struct WalletBody: Codable, Sendable, Equatable {
    public let userId: Int64
    public let balance: Int64
    public init(userId: Int64, balance: Int64) {
        self.userId = userId
        self.balance = balance
    }
}

/// Points limits from docs/api.md.
public enum Points {
    /// The largest balance a wallet may hold.
    public static let maxBalance: Int64 = 9_000_000_000_000_000_000
    /// The range of one charge.
    public static let chargeRange: ClosedRange<Int64> = 1...1_000_000_000
}

extension JobKind {
    /// Holds a seat: payload ``ReserveSeatPayload``.
    public static let reserveSeat = JobKind("reserve_seat")
    /// Pays a held reservation: payload ``ReservationPayload``.
    public static let pay = JobKind("pay")
    /// Cancels a reservation: payload ``ReservationPayload``.
    public static let cancelReservation = JobKind("cancel_reservation")
}

/// A `reserve_seat` job's input.
public struct ReserveSeatPayload: Codable, Sendable {
    public let userId: Int64
    public let scheduleId: Int64
    public let seatNo: Int
    public init(userId: Int64, scheduleId: Int64, seatNo: Int) {
        self.userId = userId
        self.scheduleId = scheduleId
        self.seatNo = seatNo
    }
}

/// A `pay` or `cancel_reservation` job's input: the caller and their reservation.
public struct ReservationPayload: Codable, Sendable {
    public let userId: Int64
    public let reservationId: Int64
    public init(userId: Int64, reservationId: Int64) {
        self.userId = userId
        self.reservationId = reservationId
    }
}

extension ReserveSeatPayload: IntegerFieldsDecodable, IntegerFieldsEncodable {
    public static let integerFields = IntegerFields(["userId", "scheduleId", "seatNo"])
    public var integerValues: [Int64] { [userId, scheduleId, Int64(seatNo)] }
    public init?(integerValues values: [Int64]) {
        guard values.count == 3, let seatNo = Int(exactly: values[2]) else { return nil }
        self.init(userId: values[0], scheduleId: values[1], seatNo: seatNo)
    }
}

extension ReservationPayload: IntegerFieldsDecodable, IntegerFieldsEncodable {
    public static let integerFields = IntegerFields(["userId", "reservationId"])
    public var integerValues: [Int64] { [userId, reservationId] }
    public init?(integerValues values: [Int64]) {
        guard values.count == 2 else { return nil }
        self.init(userId: values[0], reservationId: values[1])
    }
}

/// Booking rules from docs/api.md.
public enum Booking {
    /// Live holds one user may have in one schedule.
    public static let maxHoldsPerSchedule = 4

    /// The refusal of a reservation of a seat that is held or sold. The payment worker answers
    /// with it, and so does the enqueue when a ``SeatCheck`` sees the seat taken: the same bytes.
    public static let seatUnavailable = JobOutcome(
        status: 409, body: ProblemDocument.json(status: 409, code: "seat_unavailable", title: "Seat unavailable",
                                                detail: "That seat is held or sold."))

    /// The check a `reserve_seat` job's enqueue makes (see ``SeatCheck``).
    public static func seatCheck(_ payload: ReserveSeatPayload) -> SeatCheck {
        SeatCheck(scheduleID: payload.scheduleId, seatNo: payload.seatNo, maxHolds: maxHoldsPerSchedule, refusal: seatUnavailable)
    }
}
