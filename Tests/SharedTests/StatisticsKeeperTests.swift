import Foundation
import Logging
import PostgresNIO
import Shared
import Testing
import TestSupport

@Suite("Statistics keeper")
struct StatisticsKeeperTests {
    let logger = Logger(label: "test.statistics")

    @Test("a hot table that changed a lot since its statistics is analyzed; an unchanged one is not")
    func analyzesChangedTables() async throws {
        try await TestDatabase.withDatabase { client, _ in
            try await client.query("ANALYZE jobs")
            try await client.query("ANALYZE seats")
            let before = try await client.scalar(
                "SELECT COALESCE(last_analyze, 'epoch') FROM pg_stat_user_tables WHERE relname = 'seats'", as: Date.self)
            let jobsBefore = try await client.scalar(
                "SELECT COALESCE(last_analyze, 'epoch') FROM pg_stat_user_tables WHERE relname = 'jobs'", as: Date.self)
            try await client.query("INSERT INTO jobs (kind, payload) SELECT 'noop', '{}' FROM generate_series(1, 2000)")
            let keeper = StatisticsKeeper(client: client, logger: logger)
            // Table statistics reach pg_stat_user_tables within a second or so of the commit.
            let analyzed = await eventually(timeout: .seconds(15)) {
                guard (try? await keeper.refresh()) != nil else { return false }
                let last = try? await client.scalar(
                    "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'jobs'", as: Date.self)
                return (last ?? .distantPast) > (jobsBefore ?? .distantPast)
            }
            #expect(analyzed)
            #expect(try await client.scalar(
                "SELECT COALESCE(last_analyze, 'epoch') FROM pg_stat_user_tables WHERE relname = 'seats'", as: Date.self) == before)
        }
    }
}
