import Foundation
import Synchronization

/// What this gateway remembers of the waiting room, so a fan who polls faster than `Retry-After`
/// (the flash crowd's refresh button) costs no database work.
///
/// Only a *waiting* token is answered from memory, and only while that answer cannot be wrong:
/// - the line's `admitted_through` was read less than `lineFreshness` ago, and admission has not
///   reached the token (a token is admitted only once `admitted_through` passes its place, so a
///   stale reading shows a longer line, never a shorter one);
/// - its `last_seen_at` was written less than the touch interval ago (min(30 s, idle TTL / 4)), so the
///   queue worker cannot have expired it as idle, and the poll that is due to write it goes to the
///   database.
/// Every other case — active, expired, done, another user's, unknown — is read from the database.
final class WaitingLineCache: Sendable {
    private struct Line {
        var admittedThrough: Int64
        var admitPerSecond: Double
        var idleTTL: Double
        var readAt: ContinuousClock.Instant
    }

    private struct Entry {
        let id: Int64
        let userID: Int64
        let seq: Int64
        /// When `last_seen_at` was last written, on this process's clock (no clock skew with the server).
        let lastSeen: ContinuousClock.Instant
    }

    private struct State {
        var line: Line?
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
            guard let line = state.line, line.readAt.duration(to: now) < lineFreshness,
                  let entry = state.entries[hash], entry.userID == userID, entry.seq > line.admittedThrough
            else { return nil }
            let sinceSeen = entry.lastSeen.duration(to: now)
            guard sinceSeen < .seconds(TokenRow.touchInterval(idleTTL: line.idleTTL)) else { return nil }
            let wallNow = Date()
            return TokenRow(
                id: entry.id, userID: entry.userID, seq: entry.seq, status: "waiting", activatedAt: nil, expiresAt: nil,
                lastSeenAt: wallNow.addingTimeInterval(-sinceSeen.secondsValue), salt: [], now: wallNow,
                admittedThrough: line.admittedThrough, admitPerSecond: line.admitPerSecond, idleTTL: line.idleTTL,
                effectiveStatus: "waiting")
        }
    }

    /// Learns from a row just read from the database (`touched`: its `last_seen_at` was written just now).
    func remember(_ row: TokenRow, hash: [UInt8], touched: Bool) {
        let now = ContinuousClock.now
        state.withLock { state in
            if state.line.map({ $0.admittedThrough <= row.admittedThrough }) ?? true {
                state.line = Line(
                    admittedThrough: row.admittedThrough, admitPerSecond: row.admitPerSecond, idleTTL: row.idleTTL,
                    readAt: now)
            }
            guard row.effectiveStatus == "waiting" else {
                state.entries[hash] = nil
                return
            }
            let age = touched ? 0 : max(0, row.now.timeIntervalSince(row.lastSeenAt))
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[hash] = Entry(id: row.id, userID: row.userID, seq: row.seq, lastSeen: now - .seconds(age))
        }
    }
}
