import Foundation
import Shared
import Testing

@Suite("IntegerFields: the plain-object fast path beside JSONDecoder")
struct IntegerFieldsTests {
    private let fields = IntegerFields(["userId", "scheduleId", "seatNo"])

    @Test("plain objects are read in the given key order, in any field order and spacing, jsonb's output included")
    func plain() {
        #expect(fields.read(#"{"userId":1,"scheduleId":2,"seatNo":3}"#) == [1, 2, 3])
        #expect(fields.read(#"{"seatNo": 3, "userId": 1, "scheduleId": 2}"#) == [1, 2, 3])
        #expect(fields.read(" {\n\t\"scheduleId\" : -2 ,\r\n \"seatNo\":0,\"userId\":9223372036854775807 } ") == [Int64.max, -2, 0])
        #expect(fields.read(#"{"userId":-9223372036854775808,"scheduleId":-0,"seatNo":10}"#) == [Int64.min, 0, 10])
    }

    @Test("anything else is left to JSONDecoder: nil", arguments: [
        "", "{}", "[]", "null", #"{"userId":1,"scheduleId":2}"#,                       // keys missing
        #"{"userId":1,"scheduleId":2,"seatNo":3,"extra":4}"#,                           // a key not asked for
        #"{"userId":1,"userId":1,"scheduleId":2,"seatNo":3}"#,                          // a key twice
        #"{"userId":1.0,"scheduleId":2,"seatNo":3}"#, #"{"userId":1e2,"scheduleId":2,"seatNo":3}"#,
        #"{"userId":01,"scheduleId":2,"seatNo":3}"#, #"{"userId":+1,"scheduleId":2,"seatNo":3}"#,
        #"{"userId":"1","scheduleId":2,"seatNo":3}"#, #"{"userId":null,"scheduleId":2,"seatNo":3}"#,
        #"{"userId":[1],"scheduleId":2,"seatNo":3}"#, #"{"user\u0049d":1,"scheduleId":2,"seatNo":3}"#,
        #"{"userId":9223372036854775808,"scheduleId":2,"seatNo":3}"#, #"{"userId":-,"scheduleId":2,"seatNo":3}"#,
        #"{"userId":1,"scheduleId":2,"seatNo":3,}"#, #"{"userId":1,"scheduleId":2,"seatNo":3} x"#,
        #"{"userId":1 "scheduleId":2,"seatNo":3}"#, #"{"userId":1,"scheduleId":2,"seatNo":3"#, #"{userId:1}"#,
    ])
    func declined(_ text: String) {
        #expect(fields.read(text) == nil)
    }

    struct Payload: Decodable, Equatable { let userId: Int64; let scheduleId: Int64; let seatNo: Int64 }

    @Test("wherever the fast path reads a document, JSONDecoder reads the same values")
    func agreesWithJSONDecoder() throws {
        var generator = SystemRandomNumberGenerator()
        let pieces = ["0", "7", "-3", "12", "1.5", "2e1", "\"4\"", "007", "-0", "99999999999999999999", " 5 ", "true"]
        let keys = ["userId", "scheduleId", "seatNo", "other"]
        var read = 0
        for _ in 0..<10_000 {
            let chosen = keys.shuffled(using: &generator).prefix(Int.random(in: 2...4, using: &generator))
            let text = "{" + chosen.map { "\"\($0)\":\(pieces.randomElement(using: &generator)!)" }.joined(separator: ",") + "}"
            guard let values = fields.read(text) else { continue }
            read += 1
            let decoded = try JSONDecoder().decode(Payload.self, from: Data(text.utf8))
            #expect([decoded.userId, decoded.scheduleId, decoded.seatNo] == values, "\(text)")
        }
        #expect(read > 50)
    }

    @Test("a payload written by hand is the object JSONEncoder would write, and reads back")
    func written() throws {
        let payload = ReserveSeatPayload(userId: 42, scheduleId: -7, seatNo: 1000)
        let text = payload.integerFieldsJSON
        #expect(text == #"{"userId":42,"scheduleId":-7,"seatNo":1000}"#)
        #expect(ReserveSeatPayload.integerFields.read(text) == [42, -7, 1000])
        let decoded = try JSONDecoder().decode(ReserveSeatPayload.self, from: Data(text.utf8))
        #expect([decoded.userId, decoded.scheduleId, Int64(decoded.seatNo)] == [42, -7, 1000])
        let written = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(payload)) as? NSDictionary
        #expect(written == encoded)
        #expect(ReservationPayload(userId: 1, reservationId: 2).integerFieldsJSON == #"{"userId":1,"reservationId":2}"#)
    }
}
