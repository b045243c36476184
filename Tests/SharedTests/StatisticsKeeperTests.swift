import Foundation
import Logging
import PostgresNIO
import Shared
import Testing
import TestSupport

@Suite("Statistics keeper")
struct StatisticsKeeperTests {
    let logger = Logger(label: "test.statistics")

    @Test("a hot table that changed as much as its size since its statistics is analyzed; a less changed or unchanged one is not")
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

            // 600 more rows: over 500 changes, but far fewer than the table's 2,000 rows — not yet.
            let jobsAnalyzed = try await client.scalar("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'jobs'", as: Date.self)
            try await client.query("INSERT INTO jobs (kind, payload) SELECT 'noop', '{}' FROM generate_series(1, 600)")
            let counted = await eventually(timeout: .seconds(15)) {
                (try? await client.scalar("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'jobs'", as: Int64.self)) == 600
            }
            try #require(counted, "the 600 changes never reached pg_stat_user_tables; the check below would prove nothing")
            try await keeper.refresh()
            #expect(try await client.scalar("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'jobs'", as: Date.self) == jobsAnalyzed)
            #expect(try await client.scalar(
                "SELECT COALESCE(last_analyze, 'epoch') FROM pg_stat_user_tables WHERE relname = 'seats'", as: Date.self) == before)
        }
    }
}
