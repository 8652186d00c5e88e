// swift-tools-version:6.1
import PackageDescription

// `UID_FUZZ=1 swift build --product uid-fuzz` (what scripts/fuzz runs, in its own .build-fuzz):
// the project's own modules get libFuzzer's coverage and the address sanitizer, and the
// libFuzzer driver `uid-fuzz` exists. Dependencies stay uninstrumented.
let fuzzing = Context.environment["UID_FUZZ"] == "1"
let instrumented: [SwiftSetting] = fuzzing ? [.unsafeFlags(["-sanitize=fuzzer,address"])] : []

let package = Package(
    name: "uid-operator",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "uid-operator", targets: ["UIDOperatorCLI"]),
        .executable(name: "uid-bench", targets: ["UIDBenchmarks"]),
        .library(name: "UIDProtocol", targets: ["UIDProtocol"]),
        .library(name: "UIDOperatorCore", targets: ["UIDOperatorCore"]),
        .library(name: "UIDStore", targets: ["UIDStore"]),
        .library(name: "UIDServer", targets: ["UIDServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // A cache prefetch hint for batch lookups, which Swift cannot spell (one inline C function).
        .target(name: "CPrefetch"),
        // glibc's allocator thresholds (`mallopt`), which Swift's Glibc module does not import.
        .target(name: "CAllocator"),
        // Layer 1: pure protocol code. No I/O; depends only on swift-crypto (and the hint above).
        .target(
            name: "UIDProtocol",
            dependencies: [
                "CPrefetch",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: instrumented
        ),
        // Layer 2: use cases over an immutable in-memory snapshot. No HTTP, no database.
        .target(
            name: "UIDOperatorCore",
            dependencies: ["UIDProtocol", "CPrefetch", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: instrumented
        ),
        // Layer 3: durable state.
        .target(
            name: "UIDStore",
            dependencies: [
                "UIDProtocol",
                "UIDOperatorCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: instrumented
        ),
        // Layer 4: HTTP.
        .target(
            name: "UIDServer",
            dependencies: [
                "CAllocator",
                "UIDProtocol",
                "UIDOperatorCore",
                "UIDStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: instrumented
        ),
        // Layer 5: command line.
        .executableTarget(
            name: "UIDOperatorCLI",
            dependencies: [
                "UIDProtocol",
                "UIDOperatorCore",
                "UIDStore",
                "UIDServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The benchmark suite (scripts/bench): drives a release uid-operator with wrk, times the
        // protocol library, and measures start-up at scale.
        .executableTarget(
            name: "UIDBenchmarks",
            dependencies: [
                "UIDProtocol",
                "UIDOperatorCore",
                "UIDStore",
                // The follower simulation runs the node's own sync loop against PostgreSQL.
                "UIDServer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // One harness per decoder that untrusted bytes reach (scripts/fuzz drives them with
        // libFuzzer; the tests replay their seeds and saved regressions).
        .target(
            name: "UIDFuzzTargets",
            dependencies: [
                "UIDProtocol",
                "UIDOperatorCore",
                "UIDStore",
                "UIDServer",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: instrumented
        ),
        .testTarget(name: "UIDFuzzTargetsTests", dependencies: ["UIDFuzzTargets"], exclude: ["Regressions"]),
        .testTarget(
            name: "UIDProtocolTests",
            dependencies: ["UIDProtocol", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(
            name: "UIDOperatorCoreTests",
            dependencies: ["UIDProtocol", "UIDOperatorCore", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(
            name: "UIDStoreTests",
            dependencies: [
                "UIDProtocol",
                "UIDOperatorCore",
                "UIDStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "UIDServerTests",
            dependencies: [
                "UIDProtocol",
                "UIDOperatorCore",
                "UIDStore",
                "UIDServer",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)

// Test code is compiled without optimisation, even in the release build that scripts/test runs
// the tests on: optimising it only lengthened CI's build. The code under test stays optimised.
for target in package.targets where target.type == .test {
    target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-Onone"])]
}

if fuzzing {
    package.products.append(.executable(name: "uid-fuzz", targets: ["UIDFuzz"]))
    package.targets.append(.executableTarget(
        name: "UIDFuzz",
        dependencies: ["UIDFuzzTargets"],
        swiftSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])],
        linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]
    ))
}
