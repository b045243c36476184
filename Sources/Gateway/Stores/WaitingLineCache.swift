import Foundation
import Synchronization

/// What this gateway remembers of the waiting rooms' lines, so a fan who polls faster than
/// `Retry-After` (the flash crowd's refresh button) costs no database work.
///
/// Only a *waiting* token is answered from memory, and only while that answer cannot be wrong:
/// - its room's line (state and `admitted_through`) was read less than `lineFreshness` ago, and
///   admission has not reached the token (a token is admitted only once `admitted_through` passes
///   its place, so a stale reading shows a longer line, never a shorter one); a token read while
///   its room was scheduled only while the room still reads scheduled (the opening deals it a new place);
/// - its `last_seen_at` was written less than the touch interval ago (min(30 s, idle TTL / 4)), so the
///   queue worker cannot have expired it as idle, and the poll that is due to write it goes to the
///   database.
/// Every other case — active, expired, done, another user's, unknown — is read from the database.
final class WaitingLineCache: Sendable {
    private struct Line {
        var state: String
        var opensAt: Date?
        var admittedThrough: Int64
        var admitPerSecond: Double
        var idleTTL: Double
        var readAt: ContinuousClock.Instant
    }

    private struct Entry {
        let id: Int64
        let userID: Int64
        let roomID: Int64
        let place: Int64?
        /// Read while its room was scheduled: its place is not yet drawn.
        let inPreQueue: Bool
        /// When `last_seen_at` was last written, on this process's clock (no clock skew with the server).
        let lastSeen: ContinuousClock.Instant
    }

    private struct State {
        var lines: [Int64: Line] = [:]
        var entries: [[UInt8]: Entry] = [:]
    }

    private let state = Mutex(State())
    private let lineFreshness: Duration
    private let capacity: Int

    init(lineFreshness: Duration = .milliseconds(200), capacity: Int = 200_000) {
        self.lineFreshness = lineFreshness
        self.capacity = capacity
    }

    /// The waiting token with this hash as the database would show it now, or nil to ask the database.
    func waitingToken(hash: [UInt8], userID: Int64) -> TokenRow? {
        let now = ContinuousClock.now
        return state.withLock { state -> TokenRow? in
            guard let entry = state.entries[hash], entry.userID == userID, let line = state.lines[entry.roomID],
                  line.readAt.duration(to: now) < lineFreshness
            else { return nil }
            if entry.inPreQueue {
                guard line.state == "scheduled" else { return nil }
            } else {
                guard let place = entry.place, place > line.admittedThrough else { return nil }
            }
            let sinceSeen = entry.lastSeen.duration(to: now)
            guard sinceSeen < .seconds(TokenRow.touchInterval(idleTTL: line.idleTTL)) else { return nil }
            let wallNow = Date()
            return TokenRow(
                id: entry.id, userID: entry.userID, roomID: entry.roomID, place: entry.place, status: "waiting",
                activatedAt: nil, expiresAt: nil, lastSeenAt: wallNow.addingTimeInterval(-sinceSeen.secondsValue), salt: [],
                now: wallNow, roomState: line.state, opensAt: line.opensAt, admittedThrough: line.admittedThrough,
                admitPerSecond: line.admitPerSecond, idleTTL: line.idleTTL, effectiveStatus: "waiting")
        }
    }

    /// Learns from a row just read from the database (`touched`: its `last_seen_at` was written just now).
    func remember(_ row: TokenRow, hash: [UInt8], touched: Bool) {
        let now = ContinuousClock.now
        state.withLock { state in
            // A reading is newer when admission went further, or as far but the state changed later
            // (the line is re-read at least every `lineFreshness` anyway).
            if state.lines[row.roomID].map({ $0.admittedThrough <= row.admittedThrough }) ?? true {
                state.lines[row.roomID] = Line(
                    state: row.roomState, opensAt: row.opensAt, admittedThrough: row.admittedThrough,
                    admitPerSecond: row.admitPerSecond, idleTTL: row.idleTTL, readAt: now)
            }
            guard row.effectiveStatus == "waiting" else {
                state.entries[hash] = nil
                return
            }
            let age = touched ? 0 : max(0, row.now.timeIntervalSince(row.lastSeenAt))
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[hash] = Entry(id: row.id, userID: row.userID, roomID: row.roomID, place: row.place,
                                        inPreQueue: row.roomState == "scheduled", lastSeen: now - .seconds(age))
        }
    }
}
