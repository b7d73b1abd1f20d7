// The `kvlab` command: argument parsing and wiring only; the work lives in the libraries.

import ArgumentParser

@main
struct KVLab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kvlab",
        abstract: "Benchmark and correctness-test key-value stores.",
        discussion: """
        kvlab runs workloads against its own engines (hash table, skiplist, ...) and reports \
        latency and throughput. Run `kvlab engines` to see the engines and their capabilities, \
        and `kvlab bench` for db_bench-style micro benchmarks of one engine.
        """,
        version: KVLabVersion.string,
        subcommands: [EnginesCommand.self, BenchCommand.self]
    )
}

enum KVLabVersion {
    static let string = "0.1.0"
}
