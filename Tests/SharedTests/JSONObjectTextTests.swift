import Foundation
import Shared
import Testing

@Suite("JSONObjectText")
struct JSONObjectTextTests {
    @Test("keys sorted byte-wise, scalars written as JSON")
    func layout() {
        var object = JSONObjectText([("b", .int(-42)), ("a", .string("x")), ("Z", .bool(true)), ("c", .null)])
        object.set("d", .bool(false))
        object.set("b", .int(7))
        #expect(object.text == #"{"Z":true,"a":"x","b":7,"c":null,"d":false}"#)
    }

    @Test("strings that need escaping read back as written")
    func escaping() throws {
        let tricky = "quote \" backslash \\ slash / newline \n return \r tab \t bell \u{07} nul \u{00} unit \u{1F} Zoë 🎫 \u{7F}"
        let text = JSONObjectText([("detail", .string(tricky)), ("key \"quoted\"", .string(""))]).text
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String])
        #expect(object == ["detail": tricky, "key \"quoted\"": ""])
        #expect(text.contains(#"slash / newline \n"#))
        #expect(text.contains(#"bell \u0007 nul \u0000"#))
    }

    @Test("dates as Date.formatted(.iso8601) writes them: UTC, whole seconds")
    func dates() {
        var dates = [Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1_795_000_000.999_9),
                     Date(timeIntervalSince1970: 951_782_400.5), Date(timeIntervalSince1970: 4_102_444_799.25)]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 { dates.append(Date(timeIntervalSince1970: Double.random(in: 0..<4_102_444_800, using: &generator))) }
        for date in dates {
            #expect(JSONObjectText.rfc3339(date) == date.formatted(.iso8601), "\(date.timeIntervalSince1970)")
        }
        #expect(JSONObjectText([("at", .date(Date(timeIntervalSince1970: 1_795_000_000.999_9)))]).text == #"{"at":"2026-11-18T11:06:40Z"}"#)
    }

    @Test("a problem document has docs/api.md's members, keys sorted")
    func problem() throws {
        let text = ProblemDocument.json(status: 402, code: "insufficient_points", title: "Insufficient points",
                                        detail: "Your balance is below the price.", extra: ["required": .int(50), "balance": .int(10)])
        #expect(text == #"{"balance":10,"code":"insufficient_points","detail":"Your balance is below the price.","#
            + #""required":50,"status":402,"title":"Insufficient points","type":"urn:stagedoor:problem:insufficient_points"}"#)
    }
}
