// swift-tools-version: 6.1
// kvlab's package-benchmark suite: a nested package so the root package needs no benchmark dependency.
import PackageDescription

let package = Package(
    name: "kvlab-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "kvlab", path: "../"),
        // The MallocInterposer trait is required here: the default trait needs a package not mirrored.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "KVCore", package: "kvlab"),
                .product(name: "HashEngine", package: "kvlab"),
                .product(name: "SkipListEngine", package: "kvlab"),
            ],
            path: "Benchmarks/EngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
