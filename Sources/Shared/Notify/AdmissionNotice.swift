/// What the admission leader announces on `admission` after each tick, for every room whose line
/// moved or whose state or rate changed: each gateway moves its live-update streams on from it,
/// computing every listener's position in memory (docs/architecture.md). One line per room,
/// `room admittedThrough state rate`; lines are grouped into payloads under NOTIFY's 8,000 bytes.
/// Notifications are hints: a gateway re-reads every room's mark after (re)connecting.
public struct AdmissionNotice: Sendable, Equatable {
    public let roomID: Int64
    public let admittedThrough: Int64
    public let state: String
    public let admitPerSecond: Double

    public init(roomID: Int64, admittedThrough: Int64, state: String, admitPerSecond: Double) {
        self.roomID = roomID
        self.admittedThrough = admittedThrough
        self.state = state
        self.admitPerSecond = admitPerSecond
    }

    /// The channel.
    public static let channel = "admission"

    /// The payloads announcing `notices`, each under 7,000 bytes.
    public static func payloads(_ notices: [AdmissionNotice]) -> [String] {
        var payloads: [String] = [], current = ""
        for notice in notices {
            let line = "\(notice.roomID) \(notice.admittedThrough) \(notice.state) \(notice.admitPerSecond)"
            if !current.isEmpty, current.utf8.count + line.utf8.count + 1 > 7_000 {
                payloads.append(current)
                current = ""
            }
            current += current.isEmpty ? line : "\n" + line
        }
        if !current.isEmpty { payloads.append(current) }
        return payloads
    }

    /// The notices in a payload; malformed lines are skipped.
    public static func parse(_ payload: String) -> [AdmissionNotice] {
        payload.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 4, let room = Int64(parts[0]), let through = Int64(parts[1]), let rate = Double(parts[3]) else {
                return nil
            }
            return AdmissionNotice(roomID: room, admittedThrough: through, state: String(parts[2]), admitPerSecond: rate)
        }
    }
}
