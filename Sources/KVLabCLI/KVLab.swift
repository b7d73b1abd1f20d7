// The `kvlab` command: argument parsing and wiring only; the work lives in the libraries.

import ArgumentParser
import Foundation

@main
struct KVLab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kvlab",
        abstract: "Benchmark and correctness-test key-value stores.",
        discussion: """
        kvlab runs unmodified YCSB workload files against its own engines (hash table, \
        skiplist, ...) and prints YCSB-compatible results:
          kvlab load -P workloads/workloada
          kvlab run -P workloads/workloada -threads 2 -s --export json result.json
        `kvlab compare` gates regressions between two result files, `kvlab merge` combines \
        the results of several clients, `kvlab engines` lists the engines and their \
        capabilities, and `kvlab bench` runs db_bench-style micro benchmarks of one engine.
        """,
        version: KVLabVersion.string,
        subcommands: [LoadCommand.self, RunCommand.self, ServeCommand.self, MergeCommand.self, CompareCommand.self, CheckCommand.self, GenHistoryCommand.self, EnginesCommand.self, BenchCommand.self, CrashTestCommand.self, CrashWriterCommand.self, SentinelCommand.self, ConsistencyCommand.self, ProxyCommand.self, SuperviseCommand.self, ChaosCommand.self, ChaosCompareCommand.self, RingCommand.self, ReshardCommand.self, GateCommand.self, CountCommand.self, CountWorkerCommand.self, ReportCommand.self, StoreCommand.self, EtcdRegisterCommand.self]
    )
}

extension KVLab {
    /// Parses and runs, mapping `CLIError` to its message and exit status (2 = bad input).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as CLIError {
            Console.error("Error: \(error.message)")
            Foundation.exit(error.code)
        } catch {
            exit(withError: error)
        }
    }
}

enum KVLabVersion {
    static let string = "0.1.0"

    /// The commit kvlab was run from, when run inside its git checkout (`KVLAB_GIT_COMMIT` overrides).
    static let gitCommit: String? = {
        if let commit = ProcessInfo.processInfo.environment["KVLAB_GIT_COMMIT"] { return commit }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "rev-parse", "HEAD"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }()
}
