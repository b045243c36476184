import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Where the operator API is, and how to print: shared by every command that talks to a gateway.
struct OperatorOptions: ParsableArguments {
    @Option(help: "The gateway, or the balancer in front of several (default: STAGEDOOR_URL, else http://127.0.0.1:8080).")
    var url: String?
    @Option(help: "The gateways' ADMIN_KEY (default: ADMIN_KEY).")
    var adminKey: String?
    @Flag(help: "Print the API's JSON instead of a table.")
    var json = false

    /// Runs `body` with a client for the operator API; any failure becomes one line on stderr and exit 1.
    func withClient(_ body: (OperatorClient) async throws -> Void) async throws {
        let environment = ProcessInfo.processInfo.environment
        let base = (url ?? environment["STAGEDOOR_URL"] ?? "http://127.0.0.1:8080").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard let key = adminKey ?? environment["ADMIN_KEY"], !key.isEmpty else {
            throw OperatorClient.fail("ADMIN_KEY is not set (or pass --admin-key)")
        }
        guard let parsed = URL(string: base), parsed.scheme == "http" || parsed.scheme == "https", parsed.host != nil else {
            throw OperatorClient.fail("\(base) is not an http(s) URL")
        }
        let client = OperatorClient(base: base, key: key)
        do {
            try await body(client)
            try await client.http.shutdown()
        } catch {
            try? await client.http.shutdown()
            if let failure = error as? OperatorClient.Failure { throw OperatorClient.fail(failure.message) }
            if error is ExitCode || error is CleanExit { throw error }
            throw OperatorClient.fail("\(base): \(error)")
        }
    }
}

/// The operator API over HTTP: JSON in and out; a problem answer becomes a ``Failure`` naming its
/// status, code and detail.
struct OperatorClient: Sendable {
    let base: String
    let key: String
    let http = HTTPClient(eventLoopGroupProvider: .singleton)

    struct Failure: Error {
        let message: String
    }

    /// An answer: its status and its body, raw and parsed.
    struct Answer: @unchecked Sendable {
        // @unchecked: `value` holds only JSONSerialization's immutable value types.
        let status: Int
        let text: String
        let value: Any?

        var object: [String: Any] { value as? [String: Any] ?? [:] }
    }

    func call(_ method: HTTPMethod, _ path: String, body: [String: Any]? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(30))
        } catch {
            throw Failure(message: "cannot reach \(base): \(error)")
        }
        let bytes = try await response.body.collect(upTo: 8 << 20)
        let text = String(buffer: bytes)
        let value = text.isEmpty ? nil : try? JSONSerialization.jsonObject(with: Data(text.utf8))
        let answer = Answer(status: Int(response.status.code), text: text, value: value)
        guard (200..<300).contains(answer.status) else {
            let code = answer.object["code"] as? String ?? "error"
            let detail = answer.object["detail"] as? String ?? text.prefix(200).description
            throw Failure(message: "\(method.rawValue) \(path): \(answer.status) \(code): \(detail)")
        }
        return answer
    }

    /// Prints one line on stderr; the exit code to throw.
    static func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("stagedoor-admin: \(message)\n".utf8))
        return ExitCode.failure
    }
}

/// Plain-text tables for people.
enum Table {
    static func render(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    /// A JSON value as a cell: numbers without needless decimals, null as "-".
    static func cell(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: return "-"
        case let number as NSNumber:
            let double = number.doubleValue
            return double == double.rounded() && abs(double) < 1e15 ? String(Int64(double)) : String(double)
        case let array as [Any]: return array.map { cell($0) }.joined(separator: ",")
        case let text as String: return text
        default: return "\(value!)"
        }
    }
}
