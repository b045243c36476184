@testable import Gateway
import NIOCore
import Testing

@Suite("Request digests: one per JSON value")
struct RequestDigestTests {
    static func canonical(_ text: String) -> String? {
        RequestDigest.canonicalJSON(Array(text.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    static func digest(_ text: String) -> [UInt8] {
        RequestDigest(body: ByteBuffer(string: text)).value
    }

    @Test("the canonical form: no spaces, keys sorted by bytes, minimal escapes, numbers spelled one way")
    func canonicalForm() {
        #expect(Self.canonical(#" { "seatNo" : 7 , "scheduleId":3, "b": [1, 2.50, "x\"y\\z", true, false, null], "B": {} } "#)
            == #"{"B":{},"b":[1,2.5,"x\"y\\z",true,false,null],"scheduleId":3,"seatNo":7}"#)
        #expect(Self.canonical(#""\u0041\/\u00e9\ud83c\udfb5\n\u001f""#) == "\"A/é🎵\\n\\u001f\"")
        #expect(Self.canonical("[7, 7.0, 0.7e1, 70E-1, -0, 0.0, 1e2, 0.1, -2.5e-3, 12345678901234567890]")
            == "[7,7,7,7,0,0,100,0.1,-0.0025,1.2345678901234567e+19]")
        #expect(Self.canonical(#"{"a": 1, "a": 2}"#) == #"{"a":2}"#)
        #expect(Self.canonical("[[[[]]]]") == "[[[[]]]]")
    }

    @Test("the same value written differently has one digest; different values have different ones")
    func sameAndDifferent() {
        let same = [
            (#"{"amount": 700}"#, #"{ "amount" :700.0 }"#),
            (#"{"scheduleId": 3, "seatNo": 7}"#, "{\n\t\"seatNo\": 7e0,\r\n \"scheduleId\": 3\n}"),
            (#"{"name": "é/"}"#, #"{"name": "\u00E9\/"}"#),
            (#"[{"a": [1, {"b": null}]}]"#, #"[ { "a" : [ 1 , { "b" : null } ] } ]"#),
        ]
        for (one, other) in same {
            #expect(Self.digest(one) == Self.digest(other), "\(one) vs \(other)")
        }
        let different = [
            #"{"amount": 700}"#, #"{"amount": 701}"#, #"{"amount": "700"}"#, #"{"amount": true}"#, #"{"amount": null}"#,
            #"{"Amount": 700}"#, #"{"amount": 700, "x": null}"#, #"{"amount": [700]}"#, "[1, 2]", "[2, 1]", #""a""#, #""A""#,
            "0.1", "0.2", "{}", "[]", "not json",
        ]
        #expect(Set(different.map(Self.digest)).count == different.count)
    }

    @Test("text that is not one JSON value has no canonical form, and is digested as its bytes")
    func notJSON() {
        let bad = ["", " ", "{", "}", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "{a:1}", "01", "1.", ".5", "-", "1e", "+1", "tru", "nul",
                   "{} x", "[] []", #""\x""#, #""\ud800""#, #""\udc00""#, #""\u12""#, #""\u+041""#, #""\u-041""#, #""\u00g1""#, "\"a\u{1}b\"", "\"open", "NaN", "1e999",
                   String(repeating: "[", count: 100) + String(repeating: "]", count: 100)]
        for text in bad {
            #expect(Self.canonical(text) == nil, "\(text)")
        }
        #expect(Self.canonical("\"\u{FF}\"") != nil)  // valid UTF-8 (ÿ), not the byte 0xFF
        let invalidUTF8: [UInt8] = [0x22, 0xFF, 0x22]
        #expect(RequestDigest.canonicalJSON(invalidUTF8) == nil)
        #expect(Self.digest("{") == Self.digest("{"))
        #expect(Self.digest("{") != Self.digest("{ "))
    }

    @Test("a job stored by an earlier release, with JSONSerialization's digest, still matches its replay")
    func earlierDigest() {
        let body = ByteBuffer(string: #"{"reservationId": 12, "note": "a/b"}"#)
        let stored = RequestDigest.foundationDigest(body)
        let replay = RequestDigest(body: ByteBuffer(string: #"{ "note": "a\/b", "reservationId": 12.0 }"#))
        #expect(stored != replay.value)  // JSONSerialization writes "a\/b"
        #expect(replay.matches(stored))
        #expect(replay.matches(replay.value))
        #expect(!RequestDigest(body: ByteBuffer(string: #"{"reservationId": 13}"#)).matches(stored))
        #expect(!replay.matches(nil))
        #expect(RequestDigest.absent.matches(nil))
    }
}
