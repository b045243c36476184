/// Reads a JSON object of integer fields — `{"scheduleId": 7, "seatNo": 12}` — without
/// Foundation's `JSONDecoder`, for the tiny documents of the booking hot path.
///
/// A reservation's request body is decoded in the gateway and its job payload in the payment
/// worker; `JSONDecoder` was about 2 % of the gateway's CPU per reservation and 9 % of the
/// worker's (perf, 2026-12-02). This reader accepts only the plain case: exactly the given keys
/// (no escapes in them), each once, each an integer without fraction or exponent that fits in
/// `Int64`, JSON whitespace anywhere. For anything else it returns nil and the caller decodes with
/// `JSONDecoder`, so every answer and every error stays what `JSONDecoder` makes of the document.
public struct IntegerFields: Sendable {
    private let names: [String]
    private let keys: [[UInt8]]

    /// A reader (and writer) of objects with exactly these keys: plain names, nothing to escape.
    public init(_ keys: [String]) {
        names = keys
        self.keys = keys.map { Array($0.utf8) }
    }

    /// The object of these keys with `values`, in order: `{"userId":1,"seatNo":3}`.
    public func json(_ values: [Int64]) -> String {
        precondition(values.count == names.count)
        var text = "{"
        text.reserveCapacity(16 * names.count)
        for (index, (name, value)) in zip(names, values).enumerated() {
            if index > 0 { text += "," }
            text += "\"\(name)\":\(value)"
        }
        return text + "}"
    }

    /// The values of the keys, in the order given, or nil when `bytes` is not the plain case.
    public func read(_ bytes: UnsafeRawBufferPointer) -> [Int64]? {
        var values = [Int64?](repeating: nil, count: keys.count)
        var i = 0
        let n = bytes.count
        func skipSpace() {
            while i < n, bytes[i].isJSONWhitespace { i += 1 }
        }
        skipSpace()
        guard i < n, bytes[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        while true {
            skipSpace()
            guard i < n, bytes[i] == UInt8(ascii: "\"") else { return nil }
            i += 1
            let keyStart = i
            while i < n, bytes[i] != UInt8(ascii: "\"") {
                guard bytes[i] != UInt8(ascii: "\\"), bytes[i] >= 0x20 else { return nil }
                i += 1
            }
            guard i < n else { return nil }
            let key = UnsafeRawBufferPointer(rebasing: bytes[keyStart..<i])
            i += 1
            guard let index = keys.firstIndex(where: { $0.elementsEqual(key) }), values[index] == nil else { return nil }
            skipSpace()
            guard i < n, bytes[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            skipSpace()
            guard let value = readInteger(bytes, at: &i) else { return nil }
            values[index] = value
            skipSpace()
            guard i < n else { return nil }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            guard bytes[i] == UInt8(ascii: "}") else { return nil }
            i += 1
            break
        }
        skipSpace()
        guard i == n else { return nil }
        var result: [Int64] = []
        result.reserveCapacity(values.count)
        for value in values {
            guard let value else { return nil }
            result.append(value)
        }
        return result
    }

    /// The values of the keys in `text`, or nil (see ``read(_:)``).
    public func read(_ text: String) -> [Int64]? {
        var text = text
        return text.withUTF8 { read(UnsafeRawBufferPointer($0)) }
    }

    /// `-?(0|[1-9][0-9]*)` within `Int64`. A fraction or an exponent after it is declined by the
    /// caller, which accepts only spaces, `,` or `}` there.
    private func readInteger(_ bytes: UnsafeRawBufferPointer, at i: inout Int) -> Int64? {
        let n = bytes.count
        let negative = i < n && bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        guard i < n, (0x30...0x39).contains(bytes[i]) else { return nil }
        if bytes[i] == 0x30, i + 1 < n, (0x30...0x39).contains(bytes[i + 1]) { return nil }
        var value: Int64 = 0
        while i < n, (0x30...0x39).contains(bytes[i]) {
            let digit = Int64(bytes[i] - 0x30)
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !overflow1, !overflow2 else { return nil }
            value = next
            i += 1
        }
        return value
    }
}

/// A `Decodable` body or payload made only of integer fields, which ``IntegerFields`` can read.
public protocol IntegerFieldsDecodable: Decodable {
    /// The reader of its fields, in the order ``init(integerValues:)`` takes them.
    static var integerFields: IntegerFields { get }
    /// The value from its fields' values; nil when one is out of its type's range.
    init?(integerValues: [Int64])
}

/// An `Encodable` payload made only of integer fields, written by ``IntegerFields/json(_:)``
/// instead of `JSONEncoder` (about 2 % of the gateway's CPU per reservation, perf 2026-12-02).
public protocol IntegerFieldsEncodable: Encodable {
    /// The writer of its fields, in the order of ``integerValues``.
    static var integerFields: IntegerFields { get }
    /// Its fields' values.
    var integerValues: [Int64] { get }
}

extension IntegerFieldsEncodable {
    /// The payload as a JSON object.
    public var integerFieldsJSON: String { Self.integerFields.json(integerValues) }
}

extension UInt8 {
    /// Whether this byte is JSON whitespace (RFC 8259: space, tab, line feed, carriage return).
    public var isJSONWhitespace: Bool {
        self == 0x20 || self == 0x09 || self == 0x0A || self == 0x0D
    }
}
