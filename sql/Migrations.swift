// The numbered migrations of this folder, embedded into every binary at build time.
// Adding a migration: write NNN_description.sql here, list it in Package.swift's `Migrations` target,
// and append it below (SwiftPM names the bytes after the file, its first digit turned into "_"). A test checks that every .sql file in this folder is listed.

/// One forward-only schema migration.
public struct Migration: Sendable {
    /// Its number, from the file name's prefix.
    public let version: Int
    /// The file name, e.g. `001_schema.sql`.
    public let name: String
    /// The SQL text.
    public let sql: String
}

/// The embedded migrations.
public enum Migrations {
    /// Creates the migrator's own table; run before every migration pass, idempotent.
    public static let bookkeeping = Migration(
        version: 0, name: "000_schema_migrations.sql", sql: text(PackageResources._00_schema_migrations_sql))

    /// Every versioned migration, in order.
    public static let all: [Migration] = [
        Migration(version: 1, name: "001_schema.sql", sql: text(PackageResources._01_schema_sql)),
        Migration(version: 2, name: "002_job_functions.sql", sql: text(PackageResources._02_job_functions_sql)),
        Migration(version: 3, name: "003_live_holds_index.sql", sql: text(PackageResources._03_live_holds_index_sql)),
        Migration(version: 4, name: "004_reserve_seats_function.sql", sql: text(PackageResources._04_reserve_seats_function_sql)),
        Migration(version: 5, name: "005_reserve_seats_set_based.sql", sql: text(PackageResources._05_reserve_seats_set_based_sql)),
        Migration(version: 6, name: "006_token_status_function.sql", sql: text(PackageResources._06_token_status_function_sql)),
        Migration(version: 7, name: "007_enqueue_procedure.sql", sql: text(PackageResources._07_enqueue_procedure_sql)),
        Migration(version: 8, name: "008_issue_tokens_procedure.sql", sql: text(PackageResources._08_issue_tokens_procedure_sql)),
        Migration(version: 9, name: "009_job_functions_cached_plans.sql", sql: text(PackageResources._09_job_functions_cached_plans_sql)),
        Migration(version: 10, name: "010_dead_jobs_index.sql", sql: text(PackageResources._10_dead_jobs_index_sql)),
        Migration(version: 11, name: "011_enqueue_seat_refusal.sql", sql: text(PackageResources._11_enqueue_seat_refusal_sql)),
        Migration(version: 12, name: "012_enqueue_replay_first.sql", sql: text(PackageResources._12_enqueue_replay_first_sql)),
        Migration(version: 13, name: "013_enqueue_joined_lookups.sql", sql: text(PackageResources._13_enqueue_joined_lookups_sql)),
        Migration(version: 14, name: "014_reservations_checked_where_made.sql", sql: text(PackageResources._14_reservations_checked_where_made_sql)),
    ]

    private static func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
