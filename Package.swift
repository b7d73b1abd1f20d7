// swift-tools-version: 6.1
// kvlab: benchmark and correctness-test key-value stores.
import PackageDescription

let package = Package(
    name: "kvlab",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kvlab", targets: ["KVLabCLI"]),
        .library(name: "KVCore", targets: ["KVCore"]),
        .library(name: "HashEngine", targets: ["HashEngine"]),
        .library(name: "SkipListEngine", targets: ["SkipListEngine"]),
        .library(name: "KVEngines", targets: ["KVEngines"]),
        .library(name: "KVBench", targets: ["KVBench"]),
        .library(name: "Measurement", targets: ["Measurement"]),
        .library(name: "Workload", targets: ["Workload"]),
        .library(name: "Driver", targets: ["Driver"]),
        .library(name: "RESP", targets: ["RESP"]),
        .library(name: "KVServer", targets: ["KVServer"]),
        .library(name: "KVClient", targets: ["KVClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // The engine contract, byte types, errors, registry, null engine and shared internals.
        .target(name: "KVCore"),
        .target(name: "HashEngine", dependencies: ["KVCore"]),
        .target(name: "SkipListEngine", dependencies: ["KVCore"]),
        // The catalogue of built-in engines: name + options -> opened engine.
        .target(name: "KVEngines", dependencies: ["KVCore", "HashEngine", "SkipListEngine"]),
        // db_bench-style micro benchmarks over any engine.
        .target(name: "KVBench", dependencies: ["KVCore"]),
        // Per-operation HdrHistograms, YCSB text output, JSON result files, merge and compare.
        .target(
            name: "Measurement",
            dependencies: [
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // YCSB workload files, properties, generators, key naming, records and the operation stream.
        .target(name: "Workload", dependencies: ["KVCore"]),
        // Runs a workload on a target (an engine in this process for now), timing every operation.
        .target(name: "Driver", dependencies: ["KVCore", "Workload", "Measurement", "KVClient"]),
        // RESP2/RESP3 values, streaming parsers, serializer and NIO codecs.
        .target(
            name: "RESP",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        // The RESP server: command table over any engine, connections, limits, auth, INFO.
        .target(
            name: "KVServer",
            dependencies: [
                "KVCore", "RESP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A blocking, pipelined RESP client with a connection pool and Redis Cluster routing.
        .target(name: "KVClient", dependencies: ["RESP"]),
        // libFuzzer entry point for the RESP parsers (see README: "Fuzzing the RESP parser").
        .executableTarget(name: "FuzzRESP", dependencies: ["RESP"]),
        .executableTarget(
            name: "KVLabCLI",
            dependencies: [
                "KVCore", "KVEngines", "KVBench", "Workload", "Measurement", "Driver", "KVServer", "KVClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .testTarget(name: "KVCoreTests", dependencies: ["KVCore"]),
        .testTarget(name: "HashEngineTests", dependencies: ["HashEngine", "KVCore"]),
        .testTarget(name: "SkipListEngineTests", dependencies: ["SkipListEngine", "KVCore"]),
        .testTarget(name: "EngineConformanceTests", dependencies: ["KVCore", "KVEngines", "HashEngine", "SkipListEngine"]),
        .testTarget(name: "KVBenchTests", dependencies: ["KVBench", "KVEngines", "KVCore"]),
        .testTarget(name: "KVLabCLITests", dependencies: ["KVLabCLI", "KVClient", "RESP"]),
        .testTarget(name: "MeasurementTests", dependencies: ["Measurement"]),
        .testTarget(name: "WorkloadTests", dependencies: ["Workload", "KVCore"]),
        .testTarget(name: "DriverTests", dependencies: ["Driver", "Workload", "Measurement", "KVCore", "KVEngines"]),
        .testTarget(
            name: "RESPTests",
            dependencies: ["RESP", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        .testTarget(
            name: "KVServerTests",
            dependencies: ["KVServer", "KVClient", "RESP", "KVCore", "KVEngines", .product(name: "Logging", package: "swift-log"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        .testTarget(name: "KVClientTests", dependencies: ["KVClient", "RESP", "KVServer", "KVEngines", "KVCore", .product(name: "Logging", package: "swift-log")]),
    ]
)
