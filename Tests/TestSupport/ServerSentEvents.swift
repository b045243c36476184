import Foundation

/// The `data:` of each `event: token` in a server-sent event stream's body, with its `id:`.
public func tokenEvents(in text: String) -> [(id: Int, json: [String: Any])] {
    text.components(separatedBy: "\n\n").compactMap { block in
        let lines = block.split(separator: "\n")
        guard lines.contains("event: token"),
              let id = lines.first(where: { $0.hasPrefix("id: ") }).flatMap({ Int($0.dropFirst(4)) }),
              let data = lines.first(where: { $0.hasPrefix("data: ") }),
              let json = try? JSONSerialization.jsonObject(with: Data(data.dropFirst(6).utf8)) as? [String: Any]
        else { return nil }
        return (id, json)
    }
}
