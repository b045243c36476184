// The schema in this folder, embedded into every binary at build time.
// Adding a file: write it under migrations/ (NNN_description.sql: tables, indexes, types; never
// edited once released, unless its effects move elsewhere and its former checksum is kept) or
// functions/ (one function or procedure per file, with its overloads; CREATE OR REPLACE), list
// it in Package.swift's `Migrations` target and below. SwiftPM names the bytes after the file's
// name, a leading digit turned into "_". A test checks that every .sql file here is listed.

/// One embedded SQL file.
public struct SchemaFile: Sendable {
    /// Its path under sql/, e.g. `migrations/001_baseline.sql`: the key it is recorded under.
    public let name: String
    /// The SQL text.
    public let sql: String
    /// For a migration whose text was replaced after release (its effects moved to a function file):
    /// the checksums of its earlier texts, which a database that applied one of them still passes.
    public let formerChecksums: [String]

    public init(name: String, sql: String, formerChecksums: [String] = []) {
        self.name = name
        self.sql = sql
        self.formerChecksums = formerChecksums
    }
}

/// The embedded schema.
public enum Migrations {
    /// Creates the migrator's own table; run before every pass, idempotent.
    public static let bookkeeping = SchemaFile(name: "schema_migrations.sql", sql: text(PackageResources.schema_migrations_sql))

    /// Tables, indexes and types: applied once each, in this order.
    public static let migrations: [SchemaFile] = [
        SchemaFile(name: "migrations/001_baseline.sql", sql: text(PackageResources._01_baseline_sql)),
        SchemaFile(name: "migrations/002_rooms.sql", sql: text(PackageResources._02_rooms_sql)),
        SchemaFile(name: "migrations/003_reply_channels.sql", sql: text(PackageResources._03_reply_channels_sql)),
        // Its overloads moved to the enqueue procedures' function files; the text it had until then:
        SchemaFile(name: "migrations/004_enqueue_signatures_before_003.sql", sql: text(PackageResources._04_enqueue_signatures_before_003_sql),
                   formerChecksums: ["b3eff47d41ac4a4333e5c30957c568cd265b706c0c6e5e3b0f60de0797090a33"]),
    ]

    /// Functions and procedures, one per file: each applied again whenever its text changes.
    public static let functions: [SchemaFile] = [
        SchemaFile(name: "functions/stagedoor_admission_tick.sql", sql: text(PackageResources.stagedoor_admission_tick_sql)),
        SchemaFile(name: "functions/stagedoor_claim_jobs.sql", sql: text(PackageResources.stagedoor_claim_jobs_sql)),
        SchemaFile(name: "functions/stagedoor_enqueue_booking_jobs.sql", sql: text(PackageResources.stagedoor_enqueue_booking_jobs_sql)),
        SchemaFile(name: "functions/stagedoor_enqueue_jobs.sql", sql: text(PackageResources.stagedoor_enqueue_jobs_sql)),
        SchemaFile(name: "functions/stagedoor_finish_jobs.sql", sql: text(PackageResources.stagedoor_finish_jobs_sql)),
        SchemaFile(name: "functions/stagedoor_insert_jobs.sql", sql: text(PackageResources.stagedoor_insert_jobs_sql)),
        SchemaFile(name: "functions/stagedoor_issue_tokens.sql", sql: text(PackageResources.stagedoor_issue_tokens_sql)),
        SchemaFile(name: "functions/stagedoor_open_rooms.sql", sql: text(PackageResources.stagedoor_open_rooms_sql)),
        SchemaFile(name: "functions/stagedoor_refuse_losing_rows.sql", sql: text(PackageResources.stagedoor_refuse_losing_rows_sql)),
        SchemaFile(name: "functions/stagedoor_reserve_seats.sql", sql: text(PackageResources.stagedoor_reserve_seats_sql)),
        SchemaFile(name: "functions/stagedoor_room_places.sql", sql: text(PackageResources.stagedoor_room_places_sql)),
        SchemaFile(name: "functions/stagedoor_token_status.sql", sql: text(PackageResources.stagedoor_token_status_sql)),
    ]

    private static func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
