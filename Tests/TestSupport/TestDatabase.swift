import Foundation
import Logging
import PostgresNIO
import Shared

/// Databases for tests on the real PostgreSQL the test command starts (`TEST_DATABASE_URL`).
///
/// The first use migrates a template database; every test then gets its own copy
/// (`CREATE DATABASE … TEMPLATE`), so tests run in parallel and never see each other's rows.
public enum TestDatabase {
    /// The server the test command started, as given in `TEST_DATABASE_URL`.
    public static var serverURL: DatabaseURL {
        get throws {
            guard let raw = ProcessInfo.processInfo.environment["TEST_DATABASE_URL"], let url = DatabaseURL(parsing: raw) else {
                throw TestSetupError("TEST_DATABASE_URL is not set: run the tests with `make test`, which starts PostgreSQL")
            }
            return url
        }
    }

    /// A fresh, migrated database of its own; dropped when `body` returns.
    public static func withDatabase<T: Sendable>(
        poolSize: Int = 10,
        _ body: @Sendable (_ client: PostgresClient, _ url: DatabaseURL) async throws -> T
    ) async throws -> T {
        let url = try await create(migrated: true)
        let result: Result<T, any Error>
        do {
            result = .success(try await withClient(url, poolSize: poolSize) { try await body($0, url) })
        } catch {
            result = .failure(error)
        }
        try? await drop(url.database)
        return try result.get()
    }

    /// Creates a database: a copy of the migrated template, or empty.
    public static func create(migrated: Bool) async throws -> DatabaseURL {
        let server = try serverURL
        let name = "t_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20))"
        let template = migrated ? try await Template.shared.name() : "template0"
        _ = try await admin { client in
            // The template may still show a closing session from its migration: retry briefly.
            for attempt in 1...50 {
                do {
                    try await client.query("CREATE DATABASE \(unescaped: name) TEMPLATE \(unescaped: template)")
                    return
                } catch where attempt < 50 {
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        }
        return server.with(database: name)
    }

    /// Drops a database, ending any session still connected to it.
    public static func drop(_ name: String) async throws {
        _ = try await admin { client in
            try await client.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)")
        }
    }

    /// Runs `body` with a running client for `url`.
    public static func withClient<T: Sendable>(
        _ url: DatabaseURL, poolSize: Int = 10, applicationName: String = "stagedoor-test",
        _ body: (PostgresClient) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "test.postgres")
        logger.logLevel = .error
        return try await Database.withClient(url, poolSize: poolSize, applicationName: applicationName, backgroundLogger: logger, body)
    }

    static func admin<T: Sendable>(_ body: (PostgresClient) async throws -> T) async throws -> T {
        try await withClient(try serverURL, poolSize: 2, applicationName: "stagedoor-test-admin", body)
    }

    /// The migrated template, made once per test process.
    actor Template {
        static let shared = Template()
        private var made: Task<String, any Error>?

        func name() async throws -> String {
            if let made { return try await made.value }
            let task = Task<String, any Error> {
                let name = "stagedoor_template_\(ProcessInfo.processInfo.processIdentifier)"
                try await TestDatabase.drop(name)
                _ = try await TestDatabase.admin { try await $0.query("CREATE DATABASE \(unescaped: name) TEMPLATE template0") }
                let url = try TestDatabase.serverURL.with(database: name)
                _ = try await TestDatabase.withClient(url, poolSize: 1) { client in
                    try await Migrator(logger: Logger(label: "test.migrator")).migrate(client)
                }
                return name
            }
            made = task
            return try await task.value
        }
    }
}

/// The test environment is not as the tests need it.
public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
