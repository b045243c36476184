import Foundation
import Hummingbird
import NIOCore
import Shared

/// Reading and writing JSON bodies the way docs/api.md says: 64 KiB at most, camelCase, sorted keys.
enum JSONBody {
    /// Largest accepted request body.
    static let limit = 64 * 1024

    /// Decodes the request body as `T`, or throws the matching problem (400, 413).
    static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        try decode(type, from: try await collect(request))
    }

    /// The request body, at most 64 KiB, or `413 payload_too_large`.
    static func collect(_ request: Request) async throws -> ByteBuffer {
        var request = request
        do {
            return try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw Problem.payloadTooLarge
        }
    }

    /// Decodes a collected body as `T`, or throws `400 invalid_request`.
    static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        try decodeWithJSONDecoder(type, from: buffer)
    }

    /// Decodes a collected body of integer fields, without `JSONDecoder` when it is plain
    /// (``IntegerFields``: anything else, errors included, goes to `JSONDecoder`).
    static func decode<T: IntegerFieldsDecodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        if let values = buffer.withUnsafeReadableBytes({ T.integerFields.read($0) }), let value = T(integerValues: values) {
            return value
        }
        return try decodeWithJSONDecoder(type, from: buffer)
    }

    private static func decodeWithJSONDecoder<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        guard buffer.readableBytes > 0 else { throw Problem.invalidRequest("A JSON body is required.") }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw Problem.invalidRequest(describe(error))
        } catch {
            throw Problem.invalidRequest("The body is not valid JSON.")
        }
    }

    /// Rejects a non-empty body on an endpoint that takes none (and enforces the size limit).
    static func expectNone(_ request: Request) async throws {
        var request = request
        do {
            _ = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw Problem.payloadTooLarge
        }
    }

    /// A JSON response with sorted keys.
    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    /// A `200` whose body is JSON text made elsewhere (by Postgres, or stored with a job).
    static func response(
        json text: String, status: HTTPResponse.Status = .ok, contentType: String = "application/json", headers: HTTPFields = [:]
    ) -> Response {
        var fields = headers
        fields[.contentType] = contentType
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(JSONObjectText.rfc3339(date))
        }
        return encoder
    }()

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the body" : "'" + keys.joined(separator: ".") + "'"
        }
        switch error {
        case .keyNotFound(let key, _): return "'\(key.stringValue)' is required."
        case .typeMismatch(_, let context): return "\(path(context)) has the wrong type."
        case .valueNotFound(_, let context): return "\(path(context)) must not be null."
        case .dataCorrupted(let context): return context.codingPath.isEmpty ? "The body is not valid JSON." : "\(path(context)) is invalid."
        @unknown default: return "The body is invalid."
        }
    }
}
