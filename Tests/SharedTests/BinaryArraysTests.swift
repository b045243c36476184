import Logging
import PostgresNIO
import Testing
import TestSupport

@testable import Shared

@Suite("Arrays read from their binary form")
struct BinaryArraysTests {
    @Test("the claim's array columns read as PostgresNIO reads them: values, empty, multibyte text; NULLs and two dimensions left to PostgresNIO")
    func sameAsPostgresNIO() async throws {
        try await TestDatabase.withDatabase { client, _ in
            let rows = try await client.query("""
                SELECT ARRAY[1, -2, 9223372036854775807]::bigint[], '{}'::bigint[], ARRAY[7, -1]::int[],
                       ARRAY[0.5, -3.25, 1e300]::float8[], ARRAY['noop', '', 'ü {"a": "\\n"}']::text[], '{}'::text[],
                       ARRAY['a', NULL]::text[], ARRAY[[1, 2], [3, 4]]::bigint[]
                """)
            var checked = false
            for try await row in rows {
                let cells = row.makeRandomAccess()
                #expect(try BinaryArrays.int64s(cells[0]) == [1, -2, Int64.max])
                #expect(try BinaryArrays.int64s(cells[1]) == [])
                #expect(try BinaryArrays.int32s(cells[2]) == [7, -1])
                #expect(try BinaryArrays.doubles(cells[3]) == [0.5, -3.25, 1e300])
                #expect(try BinaryArrays.strings(cells[4]) == ["noop", "", #"ü {"a": "\n"}"#])
                #expect(try BinaryArrays.strings(cells[5]) == [])
                // Not the plain form: PostgresNIO decides (it refuses a NULL element and two dimensions).
                #expect(throws: (any Error).self) { try BinaryArrays.strings(cells[6]) }
                #expect(throws: (any Error).self) { try BinaryArrays.int64s(cells[7]) }
                #expect((try? cells[6].decode([String].self)) == nil)
                checked = true
            }
            #expect(checked)
        }
    }
}
