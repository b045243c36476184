// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Stagedoor",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "stagedoor-gateway", targets: ["Gateway"]),
        .executable(name: "stagedoor-queue-worker", targets: ["QueueWorker"]),
        .executable(name: "stagedoor-payment-worker", targets: ["PaymentWorker"]),
        .executable(name: "stagedoor-bench", targets: ["Bench"]),
        .executable(name: "stagedoor-load", targets: ["LoadGenerator"]),
        .executable(name: "stagedoor-admin", targets: ["Admin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.90.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // The schema in sql/ (migrations and functions), compiled into the binaries.
        .target(
            name: "Migrations",
            path: "sql",
            exclude: ["schema.sql"],
            resources: [
                .embedInCode("schema_migrations.sql"),
                .embedInCode("migrations/001_baseline.sql"),
                .embedInCode("migrations/002_rooms.sql"),
                .embedInCode("migrations/003_reply_channels.sql"),
                .embedInCode("migrations/004_enqueue_signatures_before_003.sql"),
                .embedInCode("functions/stagedoor_admission_tick.sql"),
                .embedInCode("functions/stagedoor_claim_jobs.sql"),
                .embedInCode("functions/stagedoor_enqueue_booking_jobs.sql"),
                .embedInCode("functions/stagedoor_enqueue_jobs.sql"),
                .embedInCode("functions/stagedoor_finish_jobs.sql"),
                .embedInCode("functions/stagedoor_insert_jobs.sql"),
                .embedInCode("functions/stagedoor_issue_tokens.sql"),
                .embedInCode("functions/stagedoor_open_rooms.sql"),
                .embedInCode("functions/stagedoor_refuse_losing_rows.sql"),
                .embedInCode("functions/stagedoor_reserve_seats.sql"),
                .embedInCode("functions/stagedoor_room_places.sql"),
                .embedInCode("functions/stagedoor_token_status.sql"),
            ]
        ),
        .target(
            name: "Shared",
            dependencies: [
                "Migrations",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .executableTarget(
            name: "Gateway",
            dependencies: [
                "Shared",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ],
            // A link to the top-level openapi.yaml, served at /openapi.yaml; the web pages (WebPages).
            resources: [
                .embedInCode("API/openapi.yaml"),
                .embedInCode("Web/index.html"), .embedInCode("Web/admin.html"), .embedInCode("Web/app.css"),
                .embedInCode("Web/api.js"), .embedInCode("Web/fan.js"), .embedInCode("Web/admin.js"),
            ]
        ),
        .executableTarget(
            name: "QueueWorker",
            dependencies: ["Shared", .product(name: "Hummingbird", package: "hummingbird")]
        ),
        .executableTarget(
            name: "PaymentWorker",
            dependencies: ["Shared", .product(name: "Hummingbird", package: "hummingbird")]
        ),
        .executableTarget(
            name: "Admin",
            dependencies: [
                "Shared",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .executableTarget(
            name: "Bench",
            dependencies: [
                "Shared",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .executableTarget(
            name: "LoadGenerator",
            dependencies: [
                "Shared",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .target(
            name: "TestSupport",
            dependencies: ["Shared"],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "SharedTests",
            dependencies: ["Shared", "TestSupport", "Migrations"]
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway", "QueueWorker", "PaymentWorker", "Shared", "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .testTarget(
            name: "PaymentWorkerTests",
            dependencies: ["PaymentWorker", "Shared", "TestSupport"]
        ),
        .testTarget(
            name: "QueueWorkerTests",
            dependencies: ["QueueWorker", "Shared", "TestSupport"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Shared", "TestSupport", "Migrations",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
