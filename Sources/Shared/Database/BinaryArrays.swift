import NIOCore
import PostgresNIO

/// Reads one-dimensional arrays without NULLs straight from their binary form: the job claim's
/// columns, a hundred elements each per batch. PostgresNIO's generic array decoding went through a
/// protocol witness per element — 7 % of a worker's CPU draining a backlog (perf, 2026-12-04).
/// Anything else (text format, NULLs, more dimensions) is left to PostgresNIO's decoder.
enum BinaryArrays {
    static func int64s(_ cell: PostgresCell) throws -> [Int64] {
        try read(cell) { buffer, length in length == 8 ? buffer.readInteger(as: Int64.self) : nil }
    }

    static func int32s(_ cell: PostgresCell) throws -> [Int32] {
        try read(cell) { buffer, length in length == 4 ? buffer.readInteger(as: Int32.self) : nil }
    }

    static func doubles(_ cell: PostgresCell) throws -> [Double] {
        try read(cell) { buffer, length in length == 8 ? buffer.readInteger(as: UInt64.self).map(Double.init(bitPattern:)) : nil }
    }

    static func strings(_ cell: PostgresCell) throws -> [String] {
        try read(cell) { buffer, length in buffer.readString(length: length) }
    }

    /// The elements read by `element` (given each one's byte length), or PostgresNIO's own decoding
    /// of the cell when its bytes are not the plain binary form.
    private static func read<T: PostgresArrayDecodable>(
        _ cell: PostgresCell, _ element: (inout ByteBuffer, Int) -> T?
    ) throws -> [T] where T == T._DecodableType {
        if cell.format == .binary, var buffer = cell.bytes, let values = plain(&buffer, element) { return values }
        return try cell.decode([T].self)
    }

    private static func plain<T>(_ buffer: inout ByteBuffer, _ element: (inout ByteBuffer, Int) -> T?) -> [T]? {
        guard let dimensions = buffer.readInteger(as: Int32.self), let hasNulls = buffer.readInteger(as: Int32.self),
              buffer.readInteger(as: UInt32.self) != nil, hasNulls == 0
        else { return nil }
        if dimensions == 0 { return buffer.readableBytes == 0 ? [] : nil }
        guard dimensions == 1, let count = buffer.readInteger(as: Int32.self), count >= 0,
              buffer.readInteger(as: Int32.self) != nil
        else { return nil }
        var values: [T] = []
        values.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let length = buffer.readInteger(as: Int32.self), length >= 0, buffer.readableBytes >= Int(length),
                  let value = element(&buffer, Int(length))
            else { return nil }
            values.append(value)
        }
        return buffer.readableBytes == 0 ? values : nil
    }
}
