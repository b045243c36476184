import Foundation
import NIOCore
import Shared

/// The digest of a write's body as a JSON value, which tells an `Idempotency-Key` replay (the same
/// value: key order, spacing, escapes and the spelling of numbers do not matter) from a conflict.
///
/// The body is put in a canonical form by hand (``canonicalJSON(_:)``) and hashed. Until
/// 2026-12-02 the canonical form was `JSONSerialization`'s with sorted keys, which compares keys
/// through ICU collation: 11 % of the gateway's CPU in a closed loop of keyed reservations (perf).
/// Jobs stored before then (kept for `JOB_RETENTION`) carry that older digest; ``matches(_:)``
/// falls back to it when the current one differs, so a replay across the upgrade is still one.
struct RequestDigest: Sendable {
    /// The digest stored with a new job.
    let value: [UInt8]
    private let body: ByteBuffer?

    /// No digest: a write without a key stores none.
    static let absent = RequestDigest(value: [], body: nil)

    private init(value: [UInt8], body: ByteBuffer?) {
        self.value = value
        self.body = body
    }

    init(body: ByteBuffer) {
        let bytes = Array(body.readableBytesView)
        // A body that is not JSON is digested as its bytes: only the same bytes replay it.
        let canonical = Self.canonicalJSON(bytes) ?? bytes
        self.init(value: Secrets.sha256(String(decoding: canonical, as: UTF8.self)), body: body)
    }

    /// Whether `stored`, a job's digest, is this request's: its current digest or, for a job stored
    /// by an earlier release, the older one.
    func matches(_ stored: [UInt8]?) -> Bool {
        guard let stored else { return value.isEmpty }
        if stored == value { return true }
        guard let body else { return false }
        return stored == Self.foundationDigest(body)
    }

    /// The digest of releases before 2026-12-02: `JSONSerialization`'s sorted-key text.
    static func foundationDigest(_ body: ByteBuffer) -> [UInt8] {
        let data = Data(body.readableBytesView)
        if let value = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
           let canonical = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) {
            return Secrets.sha256(String(decoding: canonical, as: UTF8.self))
        }
        return Secrets.sha256(String(decoding: data, as: UTF8.self))
    }

    /// One JSON text (RFC 8259) in a canonical form, or nil if it is not one: no whitespace;
    /// object members sorted by their keys' UTF-8 bytes, the last of duplicate keys kept; strings
    /// escaped as the project's other hand-written JSON is (``JSONObjectText``: only `"`, `\` and
    /// control characters, as `\"`, `\\`, `\n`-style or `\u00XX`); numbers that
    /// are whole and within ±2^53 as integers (`7`, `7.0`, `0.7e1` and `70e-1` are all `7`), others
    /// as Swift writes the nearest `Double`.
    static func canonicalJSON(_ bytes: [UInt8]) -> [UInt8]? {
        var parser = Parser(bytes: bytes)
        guard let value = parser.value(depth: 0) else { return nil }
        parser.skipSpace()
        guard parser.index == bytes.count else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        value.write(to: &out)
        return out
    }

    private indirect enum Value {
        case object([(key: [UInt8], value: Value)])
        case array([Value])
        case string([UInt8])
        /// Already in canonical form.
        case number([UInt8])
        case literal(StaticString)

        func write(to out: inout [UInt8]) {
            switch self {
            case .object(let members):
                out.append(UInt8(ascii: "{"))
                for (n, member) in members.enumerated() {
                    if n > 0 { out.append(UInt8(ascii: ",")) }
                    Self.writeString(member.key, to: &out)
                    out.append(UInt8(ascii: ":"))
                    member.value.write(to: &out)
                }
                out.append(UInt8(ascii: "}"))
            case .array(let elements):
                out.append(UInt8(ascii: "["))
                for (n, element) in elements.enumerated() {
                    if n > 0 { out.append(UInt8(ascii: ",")) }
                    element.write(to: &out)
                }
                out.append(UInt8(ascii: "]"))
            case .string(let bytes):
                Self.writeString(bytes, to: &out)
            case .number(let text):
                out.append(contentsOf: text)
            case .literal(let text):
                text.withUTF8Buffer { out.append(contentsOf: $0) }
            }
        }

        static func writeString(_ bytes: [UInt8], to out: inout [UInt8]) {
            JSONObjectText.write(utf8: bytes, to: &out)
        }
    }

    /// A recursive-descent reader of one JSON text; nil for anything RFC 8259 does not allow.
    private struct Parser {
        let bytes: [UInt8]
        var index = 0
        /// Deeper nesting is not read (the body is then digested as its bytes).
        static let maxDepth = 64

        mutating func skipSpace() {
            while index < bytes.count, bytes[index].isJSONWhitespace { index += 1 }
        }

        mutating func value(depth: Int) -> Value? {
            skipSpace()
            guard index < bytes.count, depth <= Self.maxDepth else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "{"): return object(depth: depth)
            case UInt8(ascii: "["): return array(depth: depth)
            case UInt8(ascii: "\""): return string().map(Value.string)
            case UInt8(ascii: "t"): return literal("true")
            case UInt8(ascii: "f"): return literal("false")
            case UInt8(ascii: "n"): return literal("null")
            default: return number()
            }
        }

        private mutating func literal(_ text: StaticString) -> Value? {
            guard text.withUTF8Buffer({ bytes[index...].starts(with: $0) }) else { return nil }
            index += text.utf8CodeUnitCount
            return .literal(text)
        }

        private mutating func object(depth: Int) -> Value? {
            index += 1
            var members: [[UInt8]: Value] = [:]
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object([])
            }
            while true {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = string() else { return nil }
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
                index += 1
                guard let value = value(depth: depth + 1) else { return nil }
                members[key] = value
                skipSpace()
                guard index < bytes.count else { return nil }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                guard bytes[index] == UInt8(ascii: "}") else { return nil }
                index += 1
                return .object(members.map { (key: $0.key, value: $0.value) }.sorted { $0.key.lexicographicallyPrecedes($1.key) })
            }
        }

        private mutating func array(depth: Int) -> Value? {
            index += 1
            var elements: [Value] = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array([])
            }
            while true {
                guard let element = value(depth: depth + 1) else { return nil }
                elements.append(element)
                skipSpace()
                guard index < bytes.count else { return nil }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                guard bytes[index] == UInt8(ascii: "]") else { return nil }
                index += 1
                return .array(elements)
            }
        }

        /// A string's content as UTF-8, escapes resolved; nil if malformed (including unpaired
        /// surrogates and invalid UTF-8).
        private mutating func string() -> [UInt8]? {
            index += 1
            var out: [UInt8] = []
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(validating: out, as: UTF8.self) == nil ? nil : out
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { return nil }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        guard var scalar = hex4() else { return nil }
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else { return nil }
                            index += 2
                            guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { return nil }
                        UTF8.encode(unicode) { out.append($0) }
                    default:
                        return nil
                    }
                case 0..<0x20:
                    return nil
                default:
                    out.append(byte)
                }
            }
            return nil
        }

        /// Four hex digits (and nothing else: `UInt32(_:radix:)` alone would take a sign).
        private mutating func hex4() -> UInt32? {
            guard index + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for byte in bytes[index..<index + 4] {
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                value = value << 4 | UInt32(digit)
            }
            index += 4
            return value
        }

        /// A number, checked against RFC 8259's grammar, in canonical form.
        private mutating func number() -> Value? {
            let start = index
            func digits() -> Int {
                let first = index
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
                return index - first
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            let intStart = index
            let whole = digits()
            guard whole > 0, whole == 1 || bytes[intStart] != UInt8(ascii: "0") else { return nil }
            var plain = true
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { return nil }
                plain = false
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { return nil }
                plain = false
            }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            if plain, let integer = Int64(text) {
                return .number(Array(String(integer).utf8))
            }
            guard let double = Double(text), double.isFinite else { return nil }
            if double == double.rounded(), abs(double) <= 9_007_199_254_740_992 {
                return .number(Array(String(Int64(double)).utf8))
            }
            return .number(Array(double.description.utf8))
        }
    }
}
