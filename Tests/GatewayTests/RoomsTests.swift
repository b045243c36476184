import Foundation
import HTTPTypes
import PostgresNIO
import Shared
import Testing
import TestSupport

/// Waiting rooms over HTTP (docs/api.md, *Waiting rooms* and *Operator API*).
@Suite("Waiting rooms over HTTP")
struct RoomsTests {
    static let admin: HTTPFields = [.authorization: "Bearer sesame"]

    /// A concert with one schedule of `seats` seats, made through the API; its id and the schedule's.
    static func concert(_ api: TestAPI, seats: Int = 5) async throws -> (id: Int64, schedule: Int64) {
        let reply = try await api.call(.post, "/v1/admin/concerts", body: """
            {"title": "Gala", "artist": "Band", "schedules": [{"startsAt": "2030-12-24T19:00:00Z", "price": 100, "seats": \(seats)}]}
            """, headers: admin)
        #expect(reply.status == 201 && reply["roomId"] as? Int == 1)
        let schedules = try #require(reply["schedules"] as? [[String: Any]])
        return (Int64(try #require(reply["id"] as? Int)), Int64(try #require(schedules.first?["id"] as? Int)))
    }

    static func createRoom(_ api: TestAPI, _ body: String) async throws -> Reply {
        try await api.call(.post, "/v1/admin/rooms", body: body, headers: admin)
    }

    @Test("operators create, list, read and change rooms; bad input is 400, unknown 404, a concert in another room 409")
    func operatorAPI() async throws {
        try await TestGateway.run(["ADMIN_KEY": "sesame", "ADMIT_PER_SECOND": "7"]) { api, db in
            let a = try await Self.concert(api), b = try await Self.concert(api)
            let body = #"{"name": "Big night", "concertIds": [\#(a.id)], "opensAt": "2099-01-01T10:00:00Z", "admitPerSecond": 200, "maxActive": 500}"#
            ErrorPathTests.expectProblem(try await api.call(.post, "/v1/admin/rooms", body: body), 401, "unauthorized")
            for bad in [
                #"{"name": "", "concertIds": [1]}"#, #"{"name": "x", "concertIds": []}"#, #"{"name": "x", "concertIds": [0]}"#,
                #"{"name": "x", "concertIds": [1], "admitPerSecond": 0}"#, #"{"name": "x", "concertIds": [1], "admitPerSecond": 100001}"#,
                #"{"name": "x", "concertIds": [1], "maxActive": 0}"#, #"{"name": "x", "concertIds": [1], "idleTtl": 3}"#,
                #"{"name": "x", "concertIds": [1], "activeTtl": 86401}"#, #"{"name": "x", "concertIds": [1], "opensAt": "soon"}"#,
                #"{"name": "x\u0000", "concertIds": [1]}"#, #"{"concertIds": [1]}"#, #"{"name": "x", "concertIds": ["1"]}"#,
            ] {
                ErrorPathTests.expectProblem(try await Self.createRoom(api, bad), 400, "invalid_request")
            }
            ErrorPathTests.expectProblem(try await Self.createRoom(api, #"{"name": "x", "concertIds": [\#(b.id), 999]}"#), 404, "not_found")
            #expect(try await db.scalar("SELECT count(*) FROM rooms", as: Int64.self) == 1, "refusals create nothing")

            let created = try await Self.createRoom(api, body)
            #expect(created.status == 201)
            let room = try #require(created["roomId"] as? Int)
            #expect(created["state"] as? String == "scheduled")
            #expect(created["concertIds"] as? [Int] == [Int(a.id)])
            #expect(created["admitPerSecond"] as? Double == 200 && created["maxActive"] as? Int == 500)
            #expect(created["idleTtl"] as? Double == 120 && created["activeTtl"] as? Double == 600, "defaults where not given")
            #expect(created["openedAt"] is NSNull && created["waiting"] as? Int == 0)

            let taken = try await Self.createRoom(api, #"{"name": "Other", "concertIds": [\#(b.id), \#(a.id)]}"#)
            ErrorPathTests.expectProblem(taken, 409, "concert_in_room")
            #expect(taken["roomId"] as? Int == room)
            #expect(try await db.scalar("SELECT room_id FROM concerts WHERE id = \(b.id)", as: Int64.self) == 1, "nothing moved")

            let concerts = try await api.call(.get, "/v1/concerts")
            let rooms = (concerts["concerts"] as? [[String: Any]] ?? []).map { $0["roomId"] as? Int }
            #expect(rooms == [room, 1])

            let list = try await api.call(.get, "/v1/admin/rooms", headers: Self.admin)
            #expect((list["rooms"] as? [[String: Any]])?.compactMap { $0["roomId"] as? Int } == [1, room])
            let site = try await api.call(.get, "/v1/admin/rooms/1", headers: Self.admin)
            #expect(site["state"] as? String == "open" && site["concertIds"] as? [Int] == [Int(b.id)])
            ErrorPathTests.expectProblem(try await api.call(.get, "/v1/admin/rooms/999", headers: Self.admin), 404, "not_found")
            ErrorPathTests.expectProblem(try await api.call(.get, "/v1/admin/rooms/0", headers: Self.admin), 400, "invalid_request")

            for bad in [#"{"state": "scheduled"}"#, #"{"state": "closed"}"#, #"{"admitPerSecond": -1}"#, "[]"] {
                ErrorPathTests.expectProblem(
                    try await api.call(.patch, "/v1/admin/rooms/\(room)", body: bad, headers: Self.admin), 400, "invalid_request")
            }
            ErrorPathTests.expectProblem(
                try await api.call(.patch, "/v1/admin/rooms/999", body: #"{"state": "open"}"#, headers: Self.admin), 404, "not_found")
            let moved = try await api.call(.patch, "/v1/admin/rooms/\(room)", body: #"{"opensAt": "2099-02-01T10:00:00Z", "admitPerSecond": 20}"#,
                                           headers: Self.admin)
            #expect(moved.status == 200 && moved["admitPerSecond"] as? Double == 20 && moved["state"] as? String == "scheduled")
            #expect((moved["opensAt"] as? String)?.hasPrefix("2099-02-01T10:00:00") == true)
            let opened = try await api.call(.patch, "/v1/admin/rooms/\(room)", body: #"{"state": "open"}"#, headers: Self.admin)
            #expect(opened["state"] as? String == "open" && opened["openedAt"] is String)
            ErrorPathTests.expectProblem(
                try await api.call(.patch, "/v1/admin/rooms/\(room)", body: #"{"opensAt": "2099-03-01T10:00:00Z"}"#, headers: Self.admin),
                400, "invalid_request")
            let paused = try await api.call(.patch, "/v1/admin/rooms/1", body: #"{"state": "paused", "maxActive": 3}"#, headers: Self.admin)
            #expect(paused["state"] as? String == "paused" && paused["maxActive"] as? Int == 3)
            #expect(paused["admitPerSecond"] as? Double == 50, "room 1 follows the defaults the leader last wrote until set")

            let publicRoom = try await api.call(.get, "/v1/rooms/\(room)")
            #expect(publicRoom.status == 200 && publicRoom.headers[.cacheControl] == "max-age=1")
            #expect(Set(publicRoom.json.keys) == ["roomId", "name", "state", "opensAt", "admitPerSecond", "waiting", "active", "concertIds"])
            ErrorPathTests.expectProblem(try await api.call(.get, "/v1/rooms/424242"), 404, "not_found")
        }
    }

    @Test("one live token per user and room; no body or {} means room 1; an unknown room is 404, a bad one 400")
    func tokensPerRoom() async throws {
        try await TestGateway.run(["ADMIN_KEY": "sesame"]) { api, db in
            let a = try await Self.concert(api)
            let room = try #require(try await Self.createRoom(api, #"{"name": "R", "concertIds": [\#(a.id)]}"#)["roomId"] as? Int)
            let fan = try await api.newUser()
            let site = try await api.token(fan.key)
            #expect(site.status == 201 && site["roomId"] as? Int == 1 && site["roomState"] as? String == "open")
            let empty = try await api.call(.post, "/v1/queue/tokens", key: fan.key, body: "{}")
            #expect(empty.status == 200 && empty["token"] as? String == site["token"] as? String)
            let own = try await api.call(.post, "/v1/queue/tokens", key: fan.key, body: #"{"roomId": \#(room)}"#)
            #expect(own.status == 201 && own["roomId"] as? Int == room && own["position"] as? Int == 1)
            #expect(own["token"] as? String != site["token"] as? String)
            let again = try await api.call(.post, "/v1/queue/tokens", key: fan.key, body: #"{"roomId": \#(room)}"#)
            #expect(again.status == 200 && again["token"] as? String == own["token"] as? String && again["position"] as? Int == 1)
            ErrorPathTests.expectProblem(
                try await api.call(.post, "/v1/queue/tokens", key: fan.key, body: #"{"roomId": 999}"#), 404, "not_found")
            for bad in [#"{"roomId": 0}"#, #"{"roomId": "2"}"#, #"{"roomId": 1.5}"#, "[1]"] {
                ErrorPathTests.expectProblem(try await api.call(.post, "/v1/queue/tokens", key: fan.key, body: bad), 400, "invalid_request")
            }
            ErrorPathTests.expectProblem(
                try await api.call(.post, "/v1/queue/tokens", key: "nope", body: #"{"roomId": 999}"#), 401, "unauthorized")
            #expect(try await db.scalar("SELECT count(*) FROM queue_tokens", as: Int64.self) == 2)
        }
    }

    @Test("an active token of another room is 403 queue_token_wrong_room with the right roomId, after the 404 check")
    func wrongRoom() async throws {
        try await TestGateway.run(["ADMIN_KEY": "sesame"], paymentWorker: true) { api, db in
            let gala = try await Self.concert(api), other = try await Self.concert(api)
            let room = try #require(try await Self.createRoom(api, #"{"name": "R", "concertIds": [\#(gala.id)]}"#)["roomId"] as? Int)
            let fan = try await api.newUser()
            let siteToken = try #require(try await api.token(fan.key)["token"] as? String)
            let roomToken = try #require(
                try await api.call(.post, "/v1/queue/tokens", key: fan.key, body: #"{"roomId": \#(room)}"#)["token"] as? String)
            try await db.query("UPDATE queue_tokens SET status = 'active', activated_at = now(), expires_at = now() + interval '10 minutes'")
            try await db.query("UPDATE wallets SET balance = 1000")

            for path in ["/v1/concerts/\(gala.id)/schedules", "/v1/schedules/\(gala.schedule)/seats"] {
                let refused = try await api.call(.get, path, key: fan.key, token: siteToken)
                ErrorPathTests.expectProblem(refused, 403, "queue_token_wrong_room")
                #expect(refused["roomId"] as? Int == room)
                #expect(try await api.call(.get, path, key: fan.key, token: roomToken).status == 200)
            }
            let wrongForSite = try await api.call(.get, "/v1/concerts/\(other.id)/schedules", key: fan.key, token: roomToken)
            ErrorPathTests.expectProblem(wrongForSite, 403, "queue_token_wrong_room")
            #expect(wrongForSite["roomId"] as? Int == 1)
            // Existence comes first: an unknown concert or schedule is 404 whatever the token's room.
            ErrorPathTests.expectProblem(try await api.call(.get, "/v1/concerts/999/schedules", key: fan.key, token: siteToken), 404, "not_found")
            let hold = #"{"scheduleId": \#(gala.schedule), "seatNo": 1}"#
            let wrongHold = try await api.call(.post, "/v1/reservations", key: fan.key, token: siteToken, body: hold)
            ErrorPathTests.expectProblem(wrongHold, 403, "queue_token_wrong_room")
            #expect(wrongHold["roomId"] as? Int == room)
            ErrorPathTests.expectProblem(
                try await api.call(.post, "/v1/reservations", key: fan.key, token: siteToken, body: #"{"scheduleId": 999, "seatNo": 1}"#),
                404, "not_found")
            #expect(try await db.scalar("SELECT count(*) FROM reservations", as: Int64.self) == 0)
            let held = try await api.call(.post, "/v1/reservations", key: fan.key, token: roomToken, body: hold)
            #expect(held.status == 201)
            let reservation = try #require(held["reservationId"] as? Int)
            let wrongPay = try await api.call(.post, "/v1/payments", key: fan.key, token: siteToken, body: #"{"reservationId": \#(reservation)}"#)
            ErrorPathTests.expectProblem(wrongPay, 403, "queue_token_wrong_room")
            #expect(try await db.scalar("SELECT balance FROM wallets WHERE user_id = \(fan.id)", as: Int64.self) == 1000)
            let paid = try await api.call(.post, "/v1/payments", key: fan.key, token: roomToken, body: #"{"reservationId": \#(reservation)}"#)
            #expect(paid.status == 201)
            // Paying ends the token of the concert's room, not the fan's token in the site room.
            let statuses = try await db.column("SELECT status FROM queue_tokens ORDER BY room_id", as: String.self)
            #expect(statuses == ["active", "done"])
        }
    }

    @Test("fans who come early wait in the pre-queue; the opening draws their order once; pause holds places, rates change live")
    func fairStartOverHTTP() async throws {
        try await TestGateway.run(["ADMIN_KEY": "sesame", "QUEUE_TICK": "0.2", "ADMIT_PER_SECOND": "50"], admission: true) { api, db in
            let gala = try await Self.concert(api), other = try await Self.concert(api)
            let created = try await Self.createRoom(
                api, #"{"name": "On sale", "concertIds": [\#(gala.id)], "opensAt": "2099-01-01T10:00:00Z", "admitPerSecond": 5}"#)
            let room = try #require(created["roomId"] as? Int)
            var fans: [(key: String, token: String)] = []
            for n in 0..<20 {
                let fan = try await api.newUser("early\(n)")
                let reply = try await api.call(.post, "/v1/queue/tokens", key: fan.key, body: #"{"roomId": \#(room)}"#)
                #expect(reply.status == 201 && reply["roomState"] as? String == "scheduled")
                #expect(reply["position"] is NSNull && reply["etaSeconds"] is NSNull)
                let retryAfter = try #require(reply.headers[.retryAfter].flatMap { Int($0) })
                #expect(retryAfter >= 1 && retryAfter <= 30)
                fans.append((fan.key, try #require(reply["token"] as? String)))
            }
            // Fans of another concert (room 1) are admitted meanwhile.
            let siteFan = try await api.newUser("site")
            let siteToken = try #require(try await api.token(siteFan.key)["token"] as? String)
            #expect(try await eventually {
                try await api.call(.get, "/v1/queue/tokens/current", key: siteFan.key, token: siteToken)["status"] as? String == "active"
            })
            #expect(try await api.call(.get, "/v1/concerts/\(other.id)/schedules", key: siteFan.key, token: siteToken).status == 200)
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await db.scalar("SELECT state FROM rooms WHERE id = \(room)", as: String.self) == "scheduled")

            // Pause before opening: the draw happens as the room leaves `scheduled`; nobody is admitted.
            let paused = try await api.call(.patch, "/v1/admin/rooms/\(room)", body: #"{"state": "paused"}"#, headers: Self.admin)
            #expect(paused["state"] as? String == "paused" && paused["waiting"] as? Int == 20)
            var positions: [Int] = []
            for fan in fans {
                let poll = try await api.call(.get, "/v1/queue/tokens/current", key: fan.key, token: fan.token)
                #expect(poll["roomState"] as? String == "paused" && poll["etaSeconds"] is NSNull)
                positions.append(try #require(poll["position"] as? Int))
                // Asking again returns the same token at the same place.
                let again = try await api.call(.post, "/v1/queue/tokens", key: fan.key, body: #"{"roomId": \#(room)}"#)
                #expect(again.status == 200 && again["token"] as? String == fan.token && again["position"] as? Int == positions.last)
            }
            #expect(positions.sorted() == Array(1...20), "every early fan got a distinct place")
            #expect(positions != Array(1...20), "the order was drawn, not arrival order (a 1 in 20! chance of failing)")
            try await Task.sleep(for: .milliseconds(600))
            #expect(try await db.scalar("SELECT count(*) FROM queue_tokens WHERE room_id = \(room) AND status = 'active'", as: Int64.self) == 0)
            // A later fan joins behind the pre-queue.
            let late = try await api.newUser("late")
            let lateReply = try await api.call(.post, "/v1/queue/tokens", key: late.key, body: #"{"roomId": \#(room)}"#)
            #expect(lateReply["position"] as? Int == 21)

            // Resume at a higher rate: everyone is admitted, in the drawn order.
            let resumed = try await api.call(.patch, "/v1/admin/rooms/\(room)", body: #"{"state": "open", "admitPerSecond": 40}"#,
                                             headers: Self.admin)
            #expect(resumed["state"] as? String == "open" && resumed["admitPerSecond"] as? Double == 40)
            #expect(try await eventually(timeout: .seconds(20)) {
                try await db.scalar("SELECT count(*) FROM queue_tokens WHERE room_id = \(room) AND status = 'active'", as: Int64.self) == 21
            })
            let order = try await db.column("SELECT place FROM queue_tokens WHERE room_id = \(room) ORDER BY activated_at, place", as: Int64.self)
            #expect(order == Array(1...21))
            let ticks = try await db.column("""
                SELECT count(*) FROM queue_tokens WHERE room_id = \(room) GROUP BY activated_at
                """, as: Int64.self)
            #expect(ticks.allSatisfy { $0 <= 8 }, "no tick above ⌈40 × 0.2⌉: \(ticks)")
            let view = try await api.call(.get, "/v1/admin/rooms/\(room)", headers: Self.admin)
            #expect(view["admittedTotal"] as? Int == 21 && view["active"] as? Int == 21)
        }
    }
}
