import Foundation

/// Files of the repository the tests were built from (the top-level `openapi.yaml`, `sql/`, `deploy/`, …).
public enum Checkout {
    /// The repository's top folder.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../..").standardized

    /// The file or folder at `path`, relative to the top folder.
    public static func url(_ path: String) -> URL {
        root.appendingPathComponent(path)
    }

    /// The text of the file at `path`, relative to the top folder.
    public static func text(_ path: String) throws -> String {
        try String(contentsOf: url(path), encoding: .utf8)
    }
}
