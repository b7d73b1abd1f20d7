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
        .library(name: "KVStorage", targets: ["KVStorage"]),
        .library(name: "KVMemory", targets: ["KVMemory"]),
        .library(name: "LSMEngine", targets: ["LSMEngine"]),
        .library(name: "History", targets: ["History"]),
        .library(name: "Linearizability", targets: ["Linearizability"]),
        .library(name: "BTreeEngine", targets: ["BTreeEngine"]),
        .library(name: "RESP", targets: ["RESP"]),
        .library(name: "KVServer", targets: ["KVServer"]),
        .library(name: "KVClient", targets: ["KVClient"]),
        .library(name: "Chaos", targets: ["Chaos"]),
        .library(name: "Plotting", targets: ["Plotting"]),
        .library(name: "FaultInjection", targets: ["FaultInjection"]),
        .library(name: "Sharding", targets: ["Sharding"]),
        .library(name: "Consistency", targets: ["Consistency"]),
        .library(name: "Sentinel", targets: ["Sentinel"]),
        .library(name: "Gate", targets: ["Gate"]),
        .library(name: "StoreProcesses", targets: ["StoreProcesses"]),
    ],
    traits: [
        .trait(name: "Jemalloc", description: "Link jemalloc (Debian's libjemalloc-dev) as the kvlab executable's allocator."),
        .default(enabledTraits: ["Jemalloc"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // The engine contract, byte types, errors, registry, null engine and shared internals.
        .target(name: "KVCore"),
        .target(name: "HashEngine", dependencies: ["KVCore"]),
        .target(name: "SkipListEngine", dependencies: ["KVCore"]),
        // Files (swift-system), a fault-injecting file system, CRC32C: what persistent engines share.
        .target(name: "KVStorage", dependencies: ["KVCore", "CKVStorage", .product(name: "SystemPackage", package: "swift-system")]),
        // Hardware CRC-32C (SSE 4.2) for KVStorage, chosen at run time.
        .target(name: "CKVStorage"),
        // The x86-64 time-stamp counter read (LFENCE; RDTSC) behind the driver's TSC clock.
        .target(name: "CTimestampCounter"),
        // The persistent log-structured merge tree `lsm`: WAL, memtable, sorted tables, leveled compaction.
        .target(name: "LSMEngine", dependencies: ["KVCore", "KVStorage", "SkipListEngine"]),
        // A paged, persistent, crash-safe B+tree (copy-on-write pages, meta-page switch).
        .target(name: "BTreeEngine", dependencies: ["KVCore", "KVStorage"]),
        // The catalogue of built-in engines: name + options -> opened engine.
        .target(name: "KVEngines", dependencies: ["KVCore", "HashEngine", "SkipListEngine", "LSMEngine", "BTreeEngine", "KVStorage"]),
        // `kvlab crash-test` as a library: the seeded operation stream, the writer, the oracle, the kill loop.
        .target(name: "CrashTesting", dependencies: ["KVCore", "KVEngines"]),
        // jemalloc, linked as the process allocator of the kvlab executable (trait Jemalloc).
        .systemLibrary(name: "CJemalloc", path: "Sources/CJemalloc"),
        // Allocator statistics from jemalloc's mallctl or glibc's mallinfo2.
        .target(name: "CAllocatorStats"),
        // Memory readings a Redis user recognises: allocated, active, resident, fragmentation; peak sampling.
        .target(name: "KVMemory", dependencies: ["KVCore", "CAllocatorStats"]),
        // db_bench-style micro benchmarks over any engine.
        .target(name: "KVBench", dependencies: ["KVCore", "KVMemory"]),
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
        // Runs a workload on a target (an engine in this process, or a Redis-protocol server or cluster), timing every operation.
        .target(name: "Driver", dependencies: ["KVCore", "Workload", "Measurement", "History", "KVClient", "CTimestampCounter"]),
        // Histories of concurrent operations: events, operations, readers/writers, recording.
        .target(name: "History"),
        // Sequential models and the linearizability checker (Wing–Gong/Lowe, P-compositional).
        .target(name: "Linearizability", dependencies: ["History"]),
        // RESP2/RESP3 values, streaming parsers, serializer and NIO codecs.
        .target(
            name: "RESP",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        // The RESP server: command table over any engine, connections, limits, auth, INFO.
        .target(
            name: "KVServer",
            dependencies: [
                "KVCore", "RESP", "KVMemory",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A blocking, pipelined RESP client: connect timeouts, reconnection with backoff, a pool, Redis Cluster routing.
        .target(name: "KVClient", dependencies: ["RESP"]),
        // `kvlab chaos`: experiment files, the run loop (cluster + workload + nemesis), the analysis and the report.
        .target(name: "Chaos", dependencies: ["KVCore", "Workload", "History", "Linearizability", "Plotting", "FaultInjection", "Consistency", "KVClient", "RESP"]),
        // Dependency-free SVG charts (lines, steps, stacked areas/bars, log and percentile axes) for reports.
        .target(name: "Plotting"),
        // Real etcd clusters and memcached servers on free loopback ports, for tests and `kvlab` commands.
        .target(name: "StoreProcesses", dependencies: ["KVClient"]),
        // The repeat-aware regression gate, counting mode (callgrind), saturation search, reports.
        .target(name: "Gate", dependencies: ["Measurement", "Driver", "Workload", "KVCore", "Plotting"]),
        // Fault injection for experiments: a fault proxy, a process supervisor, the nemesis, cluster launchers.
        .target(name: "FaultInjection", dependencies: ["KVCore", "KVClient", "RESP"]),
        // Sharding analysis and operations over KVClient's routers: `kvlab ring` (balance, movement), `kvlab reshard`.
        .target(name: "Sharding", dependencies: ["KVClient", "RESP"]),
        // Jepsen-style register and set workloads over RESP, recording histories for the checker.
        .target(name: "Consistency", dependencies: ["History", "KVClient", "KVCore", "RESP"]),
        // `kvlab sentinel`: monitoring, quorum, leader election and failover of a replicated group (Redis Sentinel's rules).
        .target(
            name: "Sentinel",
            dependencies: ["KVClient", "RESP", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")]
        ),
        // libFuzzer entry point for the RESP parsers (see README: "Fuzzing the RESP parser").
        .executableTarget(name: "FuzzRESP", dependencies: ["RESP"]),
        // libFuzzer entry point for the command executor: fuzz bytes drive ExecutorHarness's grammar.
        .executableTarget(
            name: "FuzzExecutor",
            dependencies: ["KVServer", "KVCore", "KVEngines", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "KVLabCLI",
            dependencies: [
                "KVCore", "KVEngines", "KVBench", "Workload", "Measurement", "Driver", "KVMemory",
                "History", "Linearizability", "KVServer", "KVClient", "CrashTesting",
                "Chaos", "FaultInjection", "Consistency", "Sentinel", "Sharding", "Gate", "Plotting", "StoreProcesses", "KVStorage",
                .target(name: "CJemalloc", condition: .when(traits: ["Jemalloc"])),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .testTarget(name: "KVCoreTests", dependencies: ["KVCore"]),
        .testTarget(name: "KVStorageTests", dependencies: ["KVStorage", "KVCore"]),
        .testTarget(name: "KVMemoryTests", dependencies: ["KVMemory"]),
        .testTarget(name: "HashEngineTests", dependencies: ["HashEngine", "KVCore"]),
        .testTarget(name: "SkipListEngineTests", dependencies: ["SkipListEngine", "KVCore"]),
        .testTarget(name: "EngineConformanceTests", dependencies: ["KVCore", "KVEngines", "CrashTesting", "HashEngine", "SkipListEngine", "LSMEngine", "BTreeEngine", "KVStorage"]),
        .testTarget(name: "BTreeEngineTests", dependencies: ["BTreeEngine", "KVStorage", "KVCore", "KVEngines"]),
        .testTarget(name: "KVBenchTests", dependencies: ["KVBench", "KVEngines", "KVCore"]),
        .testTarget(name: "KVLabCLITests", dependencies: ["KVLabCLI", "KVClient", "RESP", "KVLabTestSupport", "Driver", "Workload", "Measurement"]),
        .testTarget(name: "LSMEngineTests", dependencies: ["LSMEngine", "KVStorage", "KVCore", "KVEngines", "KVLabCLI"]),
        .testTarget(name: "MeasurementTests", dependencies: ["Measurement"]),
        .testTarget(name: "WorkloadTests", dependencies: ["Workload", "KVCore"]),
        .testTarget(name: "DriverTests", dependencies: ["Driver", "Workload", "Measurement", "KVCore", "KVEngines"]),
        .testTarget(name: "HistoryTests", dependencies: ["History"]),
        .testTarget(name: "ChaosTests", dependencies: ["Chaos", "History", "Linearizability", "FaultInjection"]),
        .testTarget(
            name: "LinearizabilityTests",
            dependencies: ["Linearizability", "History", "Driver", "Workload", "Measurement", "KVCore", "KVEngines"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "RESPTests",
            dependencies: ["RESP", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        .testTarget(
            name: "KVServerTests",
            dependencies: ["KVServer", "KVClient", "RESP", "KVCore", "KVEngines", "KVLabTestSupport", .product(name: "Logging", package: "swift-log"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        .testTarget(name: "PlottingTests", dependencies: ["Plotting"]),
        .testTarget(name: "StoreTargetTests", dependencies: ["StoreProcesses", "KVClient", "Driver", "Workload", "Measurement", "History", "Linearizability"]),
        .testTarget(name: "GateTests", dependencies: ["Gate", "Measurement", "Driver", "Workload", "KVCore", "KVEngines", "Plotting"]),
        .testTarget(name: "FaultInjectionTests", dependencies: ["FaultInjection", "KVClient", "RESP", "KVCore"]),
        .testTarget(name: "ShardingTests", dependencies: ["Sharding", "KVClient", "RESP", "KVLabTestSupport"]),
        .testTarget(name: "KVClientTests", dependencies: ["KVClient", "RESP", "KVServer", "KVEngines", "KVCore", "KVLabTestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "ConsistencyTests", dependencies: ["Consistency", "History", "Linearizability", "KVClient", "Driver", "Workload", "Measurement", "KVServer", "KVEngines", "KVCore", "KVLabTestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "SentinelTests", dependencies: ["Sentinel", "KVClient", "RESP", "KVLabTestSupport"]),
        // Helpers the test targets share: real redis-server processes and clusters.
        .target(name: "KVLabTestSupport", dependencies: ["KVClient", "RESP"], path: "Tests/KVLabTestSupport"),
    ]
)
