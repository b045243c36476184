import Foundation

/// A flat JSON object written by hand, keys sorted byte-wise: the problem documents and the
/// reservation bodies that are written on every refusal and every hold.
///
/// Foundation's writers cost tens of microseconds for these few members: `JSONSerialization` with
/// `.sortedKeys` compares keys through ICU collation (a third of the gateway's CPU on a stream of
/// `400`s, measured with perf), and `JSONEncoder` with a custom date strategy was a tenth of the
/// payment worker's. This writes the same JSON: strings escaped as RFC 8259 requires (`/` is not
/// escaped), integers in decimal, dates as RFC 3339 in UTC to the second, like
/// `Date.formatted(.iso8601)`.
public struct JSONObjectText: Sendable {
    /// A member's value.
    public enum Value: Sendable {
        case string(String)
        case int(Int64)
        case bool(Bool)
        /// RFC 3339, UTC, whole seconds (fractions are dropped).
        case date(Date)
        case null
    }

    private var members: [(key: String, value: Value)]

    public init(_ members: [(String, Value)] = []) {
        self.members = members.map { (key: $0.0, value: $0.1) }
    }

    /// Adds a member; a later member with the same key replaces an earlier one.
    public mutating func set(_ key: String, _ value: Value) {
        if let index = members.firstIndex(where: { $0.key == key }) {
            members[index].value = value
        } else {
            members.append((key, value))
        }
    }

    /// The object's JSON text.
    public var text: String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(UInt8(ascii: "{"))
        for (index, member) in members.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }).enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            Self.write(string: member.key, to: &out)
            out.append(UInt8(ascii: ":"))
            switch member.value {
            case .string(let value): Self.write(string: value, to: &out)
            case .int(let value): out.append(contentsOf: String(value).utf8)
            case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
            case .date(let value): out.append(UInt8(ascii: "\"")); out.append(contentsOf: Self.rfc3339(value).utf8); out.append(UInt8(ascii: "\""))
            case .null: out.append(contentsOf: "null".utf8)
            }
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// `text` as a JSON string literal: quoted, with `"` and `\` escaped and control characters as
    /// `\n`-style or `\u00XX` escapes.
    public static func quoted(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 2)
        write(string: text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func write(string: String, to out: inout [UInt8]) {
        write(utf8: string.utf8, to: &out)
    }

    /// Appends the JSON string literal of valid UTF-8 `bytes` to `out`, escaped as ``quoted(_:)`` does.
    public static func write(utf8 bytes: some Sequence<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `2026-11-25T17:03:12Z`: the date in UTC, to the whole second below it.
    public static func rfc3339(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let year = String(parts.tm_year + 1900)
        return "\(String(repeating: "0", count: max(0, 4 - year.count)))\(year)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
            + "T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}
