/// The `application/problem+json` document of docs/api.md, shared by the gateway and the job handlers
/// (a refusal stored as a job's outcome is the same document the gateway would have answered).
public enum ProblemDocument {
    /// The JSON text: type, title, status, code, detail and any extra members, keys sorted.
    public static func json(status: Int, code: String, title: String, detail: String, extra: [String: JSONObjectText.Value] = [:]) -> String {
        var object = JSONObjectText([
            ("type", .string("urn:stagedoor:problem:\(code)")), ("title", .string(title)), ("status", .int(Int64(status))),
            ("code", .string(code)), ("detail", .string(detail)),
        ])
        for (key, value) in extra { object.set(key, value) }
        return object.text
    }
}
