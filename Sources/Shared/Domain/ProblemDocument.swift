import Foundation

/// The `application/problem+json` document of API.md, shared by the gateway and the job handlers
/// (a refusal stored as a job's outcome is the same document the gateway would have answered).
public enum ProblemDocument {
    /// The JSON text: type, title, status, code, detail and any extra members, keys sorted.
    public static func json(status: Int, code: String, title: String, detail: String, extra: [String: Any] = [:]) -> String {
        var object: [String: Any] = [
            "type": "urn:stagedoor:problem:\(code)", "title": title, "status": status, "code": code, "detail": detail,
        ]
        for (key, value) in extra { object[key] = value }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
