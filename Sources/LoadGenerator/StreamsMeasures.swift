import Foundation
import PostgresNIO
import Shared
import Synchronization

// What `stagedoor-load streams` measures with: the notices each process hears, delays, the
// database's statement count, the gateways' memory, and its fixtures.

/// What the pollers count, shared by their tasks.
final class PollTally: Sendable {
    let polls = Counter()
    let seenActive = Box<[(place: Int64, at: Double)]>([])
    let failures = Box<[String]>([])
}

/// A value many tasks share, behind a lock.
final class Box<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<T>(_ body: (inout Value) -> T) -> T { value.withLock { body(&$0) } }
}

/// The `admission` notices one process heard, with when.
final class NoticeLog: Sendable {
    struct Entry: Sendable {
        let room: Int64
        let through: Int64
        let state: String
        let at: Double
    }

    private let entries = Mutex<[Entry]>([])

    func add(_ notices: [AdmissionNotice]) {
        let now = Date().timeIntervalSince1970
        entries.withLock { entries in
            for notice in notices {
                entries.append(Entry(room: notice.roomID, through: notice.admittedThrough, state: notice.state, at: now))
            }
        }
    }

    /// The room's marks as first heard, in order: each mark with the time it was first announced.
    func marks(room: Int64) -> [(through: Int64, at: Double)] {
        var marks: [(through: Int64, at: Double)] = []
        for entry in entries.withLock({ $0 }) where entry.room == room {
            if let last = marks.last, last.through >= entry.through { continue }
            marks.append((entry.through, entry.at))
        }
        return marks
    }

    /// How many notices for the room since `since` moved its mark.
    func changes(room: Int64, since: Double) -> Int {
        var last: Int64 = -1
        var count = 0
        for entry in entries.withLock({ $0 }) where entry.room == room {
            if entry.through > last, entry.at >= since, last >= 0 { count += 1 }
            last = max(last, entry.through)
        }
        return count
    }
}

/// Delays in whole milliseconds, counted.
struct DelayHistogram: Codable {
    var counts: [Int: Int] = [:]
    var count: Int { counts.values.reduce(0, +) }

    mutating func add(seconds: Double) {
        counts[max(0, Int((seconds * 1000).rounded())), default: 0] += 1
    }

    mutating func merge(_ other: DelayHistogram) {
        counts.merge(other.counts, uniquingKeysWith: +)
    }

    func percentile(_ p: Double) -> Int {
        let total = count
        guard total > 0 else { return 0 }
        let rank = Int((Double(total) * p).rounded(.up))
        var seen = 0
        for key in counts.keys.sorted() {
            seen += counts[key]!
            if seen >= rank { return key }
        }
        return counts.keys.max() ?? 0
    }
}

/// The database's statements so far: `pg_stat_statements` when the server loads it, else its
/// committed and rolled-back transactions (each statement outside a transaction block is one).
struct StatementCounter: Sendable {
    let fixtures: Fixtures
    let exact: Bool
    /// What is counted, in words.
    var source: String {
        exact ? "pg_stat_statements" : "transactions (pg_stat_database; this server does not load pg_stat_statements)"
    }

    init(_ fixtures: Fixtures) async throws {
        self.fixtures = fixtures
        var exact = false
        do {
            try await fixtures.client.run("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", logger: fixtures.logger)
            for try await _ in try await fixtures.client.query("SELECT 1 FROM pg_stat_statements LIMIT 1", logger: fixtures.logger) {}
            exact = true
        } catch {
            exact = false
        }
        self.exact = exact
    }

    func count() async throws -> Int64 {
        let query: PostgresQuery = exact
            ? "SELECT COALESCE(sum(calls), 0)::bigint FROM pg_stat_statements"
            : "SELECT pg_stat_clear_snapshot()::text, COALESCE(sum(xact_commit + xact_rollback), 0)::bigint FROM pg_stat_database"
        if exact {
            for try await value in try await fixtures.client.query(query, logger: fixtures.logger).decode(Int64.self) { return value }
        } else {
            for try await (_, value) in try await fixtures.client.query(query, logger: fixtures.logger).decode((String?, Int64).self) {
                return value
            }
        }
        return 0
    }
}

/// The gateways' processes, for their resident memory.
enum GatewayProcesses {
    /// Every process whose program is `stagedoor-gateway`.
    static func find() -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry in
            guard let pid = Int32(entry),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                  let program = data.split(separator: 0).first else { return nil }
            return String(decoding: program, as: UTF8.self).hasSuffix("stagedoor-gateway") ? pid : nil
        }
    }

    /// Their resident memory together, bytes (nil when none can be read).
    static func residentBytes(_ pids: [Int32]) -> Int64? {
        let sizes = pids.compactMap { pid -> Int64? in
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                  let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
                  let kb = Int64(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
            return kb * 1024
        }
        return sizes.isEmpty ? nil : sizes.reduce(0, +)
    }
}

extension Fixtures {
    /// `count` users, each with a waiting token in `room` at the room's next places, in order;
    /// API key `<prefix>key<n>`, token `<prefix>tok<n>`.
    func waitingFans(prefix: String, count: Int, room: Int64) async throws -> [(key: String, token: String, place: Int64)] {
        var places: [Int: Int64] = [:]
        for try await (n, place) in try await client.query("""
            WITH u AS (
                INSERT INTO users (name, api_key_hash)
                SELECT \(prefix) || ':' || n, sha256((\(prefix) || 'key' || n)::bytea) FROM generate_series(1, \(count)) n
                RETURNING id, substr(name, \(prefix.count + 2)::int)::int AS n
            ), w AS (
                INSERT INTO wallets (user_id) SELECT id FROM u
            ), t AS (
                INSERT INTO queue_tokens (user_id, room_id, token_hash, salt, place)
                SELECT u.id, \(room), sha256((\(prefix) || 'tok' || u.n)::bytea), '\\x00000000000000000000000000000000'::bytea,
                       nextval(format('room_places_%s', \(room)::bigint)::regclass)
                FROM (SELECT * FROM u ORDER BY n) u
                RETURNING user_id, place
            )
            SELECT u.n, t.place FROM t JOIN u ON u.id = t.user_id
            """, logger: logger).decode((Int, Int64).self) {
            places[n] = place
        }
        return (1...count).map { n in ("\(prefix)key\(n)", "\(prefix)tok\(n)", places[n] ?? 0) }
    }
}
