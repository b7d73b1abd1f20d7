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
        .library(name: "Workload", targets: ["Workload"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
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
        // YCSB workload files, properties, generators, key naming, records and the operation stream.
        .target(name: "Workload", dependencies: ["KVCore"]),
        .executableTarget(
            name: "KVLabCLI",
            dependencies: [
                "KVCore", "KVEngines", "KVBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "KVCoreTests", dependencies: ["KVCore"]),
        .testTarget(name: "HashEngineTests", dependencies: ["HashEngine", "KVCore"]),
        .testTarget(name: "SkipListEngineTests", dependencies: ["SkipListEngine", "KVCore"]),
        .testTarget(name: "EngineConformanceTests", dependencies: ["KVCore", "KVEngines", "HashEngine", "SkipListEngine"]),
        .testTarget(name: "KVBenchTests", dependencies: ["KVBench", "KVEngines", "KVCore"]),
        .testTarget(name: "KVLabCLITests", dependencies: ["KVLabCLI"]),
        .testTarget(name: "WorkloadTests", dependencies: ["Workload", "KVCore"]),
    ]
)
