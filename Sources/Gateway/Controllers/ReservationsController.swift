import Foundation
import Hummingbird
import PostgresNIO
import Shared

/// Seat holds (`POST`/`DELETE /v1/reservations`, as jobs), the caller's reservations (`GET`),
/// and payment (`POST /v1/payments`, a job).
struct ReservationsController<Context: RequestContext> {
    let auth: Authenticator
    let database: GatewayDatabase
    let replies: JobReplies

    func addRoutes(to router: Router<Context>) {
        router.post(RouterPath(Routes.reservations)) { request, _ in try await reserve(request) }
        router.get(RouterPath(Routes.reservations)) { request, _ in try await list(request) }
        router.delete(RouterPath(Routes.reservation)) { request, context in try await cancel(request, context) }
        router.post(RouterPath(Routes.payments)) { request, _ in try await pay(request) }
    }

    struct ReserveRequest: Decodable { let scheduleId: Int64; let seatNo: Int }
    struct PayRequest: Decodable { let reservationId: Int64 }

    /// A seat the enqueue already sees taken is refused there, without a worker (``SeatCheck``):
    /// in a flash crowd for one seat, nearly every request.
    func reserve(_ request: Request) async throws -> Response {
        try await queuedWrite(request, kind: .reserveSeat, room: { .schedule($0.scheduleId) }, seatCheck: Booking.seatCheck) { userID, body in
            let body = try JSONBody.decode(ReserveRequest.self, from: body)
            guard body.scheduleId > 0 else { throw Problem.invalidRequest("'scheduleId' must be a positive integer.") }
            guard (1...1000).contains(body.seatNo) else { throw Problem.invalidRequest("'seatNo' is out of range.") }
            return ReserveSeatPayload(userId: userID, scheduleId: body.scheduleId, seatNo: body.seatNo)
        }
    }

    func pay(_ request: Request) async throws -> Response {
        try await queuedWrite(request, kind: .pay, room: { .reservation($0.reservationId) }) { userID, body in
            let body = try JSONBody.decode(PayRequest.self, from: body)
            guard body.reservationId > 0 else { throw Problem.invalidRequest("'reservationId' must be a positive integer.") }
            return ReservationPayload(userId: userID, reservationId: body.reservationId)
        }
    }

    /// A write behind the queue gate, as a job whose payload `validate` makes from the caller and
    /// the body. The queue token and any earlier request with the same Idempotency-Key are checked
    /// inside the enqueue statement, not looked up first: one batched round trip per request.
    /// Refusals come in docs/api.md's order: the key (and its rate limit), the idempotency replay, the
    /// body, the queue token, then (after the worker's existence check) the token's room.
    private func queuedWrite<Payload: Encodable>(
        _ request: Request, kind: JobKind, room: (Payload) -> RoomTarget, seatCheck: (Payload) -> SeatCheck? = { _ in nil },
        validate: (_ userID: Int64, _ body: ByteBuffer) throws -> Payload
    ) async throws -> Response {
        let userID = try await auth.authenticate(request).userID
        let write = try await replies.begin(request, userID: userID, kind: kind)
        let payload: Payload, token: String
        do {
            payload = try validate(userID, write.body)
            guard let header = QueueGate.tokenHeader(request) else { throw Problem.queueTokenInvalid }
            token = header
        } catch {
            return try await replies.replay(of: write, orThrow: error)
        }
        return try await replies.run(write, payload: payload, gate: Secrets.sha256(token), room: room(payload), seatCheck: seatCheck(payload))
    }

    func cancel(_ request: Request, _ context: Context) async throws -> Response {
        let caller = try await auth.authenticate(request)
        let id = try PathID.parse("reservationId", from: context)
        try await JSONBody.expectNone(request)
        return try await replies.run(kind: .cancelReservation, payload: ReservationPayload(userId: caller.userID, reservationId: id),
                                     userID: caller.userID, key: nil, hash: .absent)
    }

    struct ReservationList: Encodable { let reservations: [ReservationBody] }

    func list(_ request: Request) async throws -> Response {
        let caller = try await auth.authenticate(request)
        let views = try await database.read { client in
            var views: [ReservationBody] = []
            for try await (id, schedule, seat, status, price, expires, paid) in try await client.query("""
                SELECT id, schedule_id, seat_no,
                       CASE WHEN status = 'held' AND hold_expires_at <= now() THEN 'expired' ELSE status END,
                       price, hold_expires_at, paid_at
                FROM reservations WHERE user_id = \(caller.userID) ORDER BY id
                """).decode((Int64, Int64, Int, String, Int64, Date, Date?).self) {
                views.append(ReservationBody(reservationId: id, scheduleId: schedule, seatNo: seat, status: status, price: price,
                                             holdExpiresAt: expires, paidAt: paid))
            }
            return views
        }
        return try JSONBody.response(ReservationList(reservations: views))
    }
}

/// The fields of the bodies below (a generic type's nested types cannot store statics).
private let reserveFields = IntegerFields(["scheduleId", "seatNo"])
private let payFields = IntegerFields(["reservationId"])

extension ReservationsController.ReserveRequest: IntegerFieldsDecodable {
    static var integerFields: IntegerFields { reserveFields }
    init?(integerValues values: [Int64]) {
        guard values.count == 2, let seatNo = Int(exactly: values[1]) else { return nil }
        self.init(scheduleId: values[0], seatNo: seatNo)
    }
}

extension ReservationsController.PayRequest: IntegerFieldsDecodable {
    static var integerFields: IntegerFields { payFields }
    init?(integerValues values: [Int64]) {
        guard values.count == 1 else { return nil }
        self.init(reservationId: values[0])
    }
}
