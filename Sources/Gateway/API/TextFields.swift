import Foundation

/// The rules every free-text field of a body follows: a length in Unicode scalars, and no control
/// characters (PostgreSQL refuses U+0000 in text, and no name or title needs one).
enum TextFields {
    /// `value`, or `400 invalid_request` naming `field`.
    static func check(_ value: String, field: String, length: ClosedRange<Int>) throws -> String {
        guard length.contains(value.unicodeScalars.count) else {
            throw Problem.invalidRequest("'\(field)' must be \(length.lowerBound) to \(length.upperBound) characters.")
        }
        guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Problem.invalidRequest("'\(field)' must not contain control characters.")
        }
        return value
    }

    /// An RFC 3339 date-time (`2026-12-24T19:00:00Z`, `…19:00:00.5+09:00`; `t` and `z` in either
    /// case) whose date exists and whose year is 2000 to 9999, as written; nil for anything else.
    static func time(_ text: String) -> Date? {
        let upper = text.uppercased()
        guard upper.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})/) != nil else { return nil }
        let digits = { (from: Int, count: Int) -> Int in
            Int(upper.dropFirst(from).prefix(count))!
        }
        let (year, month, day) = (digits(0, 4), digits(5, 2), digits(8, 2))
        let (hour, minute, second) = (digits(11, 2), digits(14, 2), digits(17, 2))
        guard (2000...9999).contains(year), (1...12).contains(month), hour <= 23, minute <= 59, second <= 59 else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard (1...days).contains(day) else { return nil }
        var offset = 0
        if !upper.hasSuffix("Z") {
            let (hours, minutes) = (digits(upper.count - 5, 2), digits(upper.count - 2, 2))
            guard hours <= 23, minutes <= 59 else { return nil }
            offset = (hours * 60 + minutes) * 60 * (upper.dropLast(5).last == "-" ? -1 : 1)
        }
        // The instant computed here, not by a date parser: Foundation's refuses offsets past ±18 h,
        // which RFC 3339 allows, and rolls a day that does not exist into the next month.
        var fraction = 0.0
        if let dot = upper.firstIndex(of: ".") {
            fraction = Double("0" + upper[dot...].prefix { $0 == "." || $0.isNumber }) ?? 0
        }
        let seconds = Self.daysSince1970(year: year, month: month, day: day) * 86_400 + hour * 3_600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    /// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
    static func daysSince1970(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
