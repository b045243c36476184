import Synchronization
import Testing

@testable import Shared

@Suite("Claimed jobs")
struct ClaimedJobTests {
    /// A payload that counts how often it is decoded.
    struct Counted: Decodable, Sendable, Equatable {
        static let decodes = Mutex(0)
        let seatNo: Int

        init(from decoder: any Decoder) throws {
            enum Keys: String, CodingKey { case seatNo }
            seatNo = try decoder.container(keyedBy: Keys.self).decode(Int.self, forKey: .seatNo)
            Self.decodes.withLock { $0 += 1 }
        }
    }

    struct Other: Decodable, Sendable, Equatable { let seatNo: Int }

    @Test("a payload is decoded once, in every copy of the job; another type is decoded anew")
    func decodedOnce() throws {
        let job = ClaimedJob(id: 1, kind: JobKind("reserve_seat"), payload: #"{"seatNo": 7}"#, attempts: 0, maxAttempts: 5, userID: 1)
        let copy = job
        #expect(try job.decodePayload(Counted.self).seatNo == 7)
        #expect(try copy.decodePayload(Counted.self).seatNo == 7)
        #expect(try job.decodePayload(Counted.self).seatNo == 7)
        #expect(Counted.decodes.withLock { $0 } == 1)
        #expect(try job.decodePayload(Other.self) == Other(seatNo: 7))
        let broken = ClaimedJob(id: 2, kind: JobKind("reserve_seat"), payload: "{", attempts: 0, maxAttempts: 5, userID: 1)
        #expect(throws: (any Error).self) { try broken.decodePayload(Counted.self) }
        #expect(throws: (any Error).self) { try broken.decodePayload(Counted.self) }
    }
}
