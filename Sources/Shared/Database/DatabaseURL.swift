import Foundation
import PostgresNIO

/// A parsed `postgres://user:password@host:port/database` address.
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String

    /// Parses a URL; `nil` when it is not a usable postgres address.
    public init?(parsing string: String) {
        guard let components = URLComponents(string: string),
              components.scheme == "postgres" || components.scheme == "postgresql",
              let host = components.host, !host.isEmpty else { return nil }
        self.host = host
        self.port = components.port ?? 5432
        self.username = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        self.password = components.password.flatMap { $0.removingPercentEncoding }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.isEmpty, !path.contains("/") else { return nil }
        self.database = path.removingPercentEncoding ?? path
    }

    /// The same server, another database (tests create one per test).
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }

    /// The address without the password, fit for logs.
    public var description: String {
        "postgres://\(username)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)"
    }

    /// The address as a URL string, password included (for child processes).
    public var urlString: String {
        let user = username.addingPercentEncoding(withAllowedCharacters: .urlUserAllowed) ?? username
        let secret = password.map { ":" + ($0.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed) ?? $0) } ?? ""
        return "postgres://\(user)\(secret)@\(host):\(port)/\(database)"
    }

    /// Configuration for a pooled client.
    /// Server-side limits on every pooled session, so a stuck lock or a forgotten transaction cannot hold
    /// a connection (and the rows it locked) forever.
    static let sessionLimits: [(String, String)] = [
        ("statement_timeout", "30s"), ("idle_in_transaction_session_timeout", "60s"),
        // A backend whose client died (a worker killed, or exiting past SHUTDOWN_TIMEOUT) notices
        // within 2 s even while it waits on a lock, and rolls back, instead of holding its locks
        // until the lock it waits for is granted.
        ("client_connection_check_interval", "2s"),
    ]

    public func clientConfiguration(poolSize: Int, applicationName: String) -> PostgresClient.Configuration {
        var config = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: .disable)
        config.options.additionalStartupParameters = [("application_name", applicationName)] + Self.sessionLimits
        config.options.maximumConnections = poolSize
        config.options.minimumConnections = 0
        config.options.connectTimeout = .seconds(5)
        return config
    }

    /// Configuration for a single dedicated connection (LISTEN, leader lock).
    public func connectionConfiguration(applicationName: String) -> PostgresConnection.Configuration {
        var config = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: .disable)
        config.options.additionalStartupParameters = [("application_name", applicationName)]
        config.options.connectTimeout = .seconds(5)
        return config
    }
}
