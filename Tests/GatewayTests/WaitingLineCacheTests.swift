import Foundation
import Shared
import Testing

@testable import Gateway

/// The gateway's memory of waiting tokens answers only what the database would answer now.
@Suite("Waiting-line cache")
struct WaitingLineCacheTests {
    static let hash: [UInt8] = Array(repeating: 7, count: 32)

    static func row(
        seq: Int64?, status: String = "waiting", admittedThrough: Int64, lastSeenAgo: TimeInterval = 0,
        userID: Int64 = 1, idleTTL: Double = 120, room: Int64 = 1, roomState: String = "open"
    ) -> TokenRow {
        let now = Date()
        return TokenRow(
            id: 10, userID: userID, roomID: room, place: seq, status: status, activatedAt: status == "active" ? now : nil,
            expiresAt: status == "active" ? now.addingTimeInterval(600) : nil,
            lastSeenAt: now.addingTimeInterval(-lastSeenAgo), salt: [], now: now,
            roomState: roomState, opensAt: roomState == "scheduled" ? now.addingTimeInterval(60) : nil,
            admittedThrough: admittedThrough, admitPerSecond: 10, idleTTL: idleTTL,
            effectiveStatus: status == "waiting" && lastSeenAgo > idleTTL ? "expired" : status)
    }

    @Test("a waiting token read from the database is answered from memory, with the same place and ETA")
    func servesWaiting() throws {
        let cache = WaitingLineCache()
        #expect(cache.waitingToken(hash: Self.hash, userID: 1) == nil)
        let read = Self.row(seq: 150, admittedThrough: 100, lastSeenAgo: 3)
        cache.remember(read, hash: Self.hash, touched: false)
        let served = try #require(cache.waitingToken(hash: Self.hash, userID: 1))
        #expect(served.status == "waiting")
        #expect(TokenView(row: served, token: "t").position == 50)
        #expect(TokenView(row: served, token: "t").etaSeconds == TokenView(row: read, token: "t").etaSeconds)
        let sinceSeen = served.now.timeIntervalSince(served.lastSeenAt)
        #expect(sinceSeen >= 3 && sinceSeen < 4)
    }

    @Test("never for another user, never once admission reached the token, never for a non-waiting token")
    func refuses() {
        let cache = WaitingLineCache()
        cache.remember(Self.row(seq: 150, admittedThrough: 100), hash: Self.hash, touched: true)
        #expect(cache.waitingToken(hash: Self.hash, userID: 2) == nil)
        // Another poll shows admission passed place 150: this token may be active now.
        cache.remember(Self.row(seq: 999, admittedThrough: 150), hash: [1], touched: true)
        #expect(cache.waitingToken(hash: Self.hash, userID: 1) == nil)
        // An active token is not kept, and replaces what was kept.
        cache.remember(Self.row(seq: 999, admittedThrough: 150), hash: Self.hash, touched: true)
        #expect(cache.waitingToken(hash: Self.hash, userID: 1) != nil)
        cache.remember(Self.row(seq: 999, status: "active", admittedThrough: 999), hash: Self.hash, touched: false)
        #expect(cache.waitingToken(hash: Self.hash, userID: 1) == nil)
        // An older reading of the line never moves it back.
        cache.remember(Self.row(seq: 1500, admittedThrough: 1000), hash: [2], touched: true)
        cache.remember(Self.row(seq: 1500, admittedThrough: 990), hash: [3], touched: true)
        #expect(cache.waitingToken(hash: [3], userID: 1).map { TokenView(row: $0, token: "t").position } == 500)
    }

    @Test("the poll that is due to write last_seen_at, and any poll after the line reading goes stale, go to the database")
    func expires() async throws {
        let cache = WaitingLineCache(lineFreshness: .milliseconds(100))
        // Idle TTL 8 s → last_seen_at is written every 2 s; this one was written 1.9 s ago.
        cache.remember(Self.row(seq: 150, admittedThrough: 100, lastSeenAgo: 1.9, idleTTL: 8), hash: Self.hash, touched: false)
        #expect(cache.waitingToken(hash: Self.hash, userID: 1) != nil)
        try await Task.sleep(for: .milliseconds(150))
        #expect(cache.waitingToken(hash: Self.hash, userID: 1) == nil)  // line reading stale
        cache.remember(Self.row(seq: 150, admittedThrough: 100, lastSeenAgo: 2.1, idleTTL: 8), hash: Self.hash, touched: false)
        #expect(cache.waitingToken(hash: Self.hash, userID: 1) == nil)  // a write of last_seen_at is due
        cache.remember(Self.row(seq: 150, admittedThrough: 100, lastSeenAgo: 2.1, idleTTL: 8), hash: Self.hash, touched: true)
        #expect(cache.waitingToken(hash: Self.hash, userID: 1) != nil)  // written just now
    }

    @Test("the poll's hand-written JSON parses to the documented fields, strings escaped")
    func json() throws {
        let active = Self.row(seq: 5, status: "active", admittedThrough: 9)
        let text = TokenView(row: active, token: "a\"b\\c\u{1}").json
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["token"] as? String == "a\"b\\c\u{1}")
        #expect(object["status"] as? String == "active")
        #expect(object["position"] as? Int == 0)
        #expect(object["activatedAt"] as? String == JSONObjectText.rfc3339(try #require(active.activatedAt)))
        let waiting = try #require(try JSONSerialization.jsonObject(
            with: Data(TokenView(row: Self.row(seq: 20, admittedThrough: 9), token: "t").json.utf8)) as? [String: Any])
        #expect(waiting["position"] as? Int == 11)
        #expect(waiting["activatedAt"] is NSNull && waiting["expiresAt"] is NSNull)
        #expect(Set(waiting.keys) == ["token", "roomId", "roomState", "opensAt", "status", "position", "etaSeconds",
                                      "activatedAt", "expiresAt"])
        // The pre-queue: no place and no ETA yet; a paused room: a place but no ETA.
        let early = try #require(try JSONSerialization.jsonObject(
            with: Data(TokenView(row: Self.row(seq: 4, admittedThrough: 0, roomState: "scheduled"), token: "t").json.utf8))
            as? [String: Any])
        #expect(early["position"] is NSNull && early["etaSeconds"] is NSNull && early["opensAt"] is String)
        let paused = try #require(try JSONSerialization.jsonObject(
            with: Data(TokenView(row: Self.row(seq: 20, admittedThrough: 9, roomState: "paused"), token: "t").json.utf8))
            as? [String: Any])
        #expect(paused["position"] as? Int == 11 && paused["etaSeconds"] is NSNull && paused["roomState"] as? String == "paused")
    }

    @Test("lines are kept per room; a pre-queue token is answered from memory only while its room still reads scheduled")
    func perRoom() throws {
        let cache = WaitingLineCache()
        cache.remember(Self.row(seq: 7, admittedThrough: 0, room: 2, roomState: "scheduled"), hash: Self.hash, touched: true)
        let early = try #require(cache.waitingToken(hash: Self.hash, userID: 1))
        #expect(early.roomState == "scheduled" && TokenView(row: early, token: "t").position == nil)
        // Another room's reading does not answer for room 2.
        cache.remember(Self.row(seq: 500, admittedThrough: 400, room: 1), hash: [9], touched: true)
        #expect(cache.waitingToken(hash: Self.hash, userID: 1)?.admittedThrough == 0)
        // Room 2 opened: the remembered pre-queue entry's place was drawn again, so the database is asked.
        cache.remember(Self.row(seq: 3, admittedThrough: 0, room: 2, roomState: "open"), hash: [8], touched: true)
        #expect(cache.waitingToken(hash: Self.hash, userID: 1) == nil)
    }
}
