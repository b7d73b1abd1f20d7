// `kvlab bench`: db_bench-style micro benchmarks of one engine.

import ArgumentParser
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
@preconcurrency import Foundation
import KVBench
import KVCore
import KVEngines

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run db_bench-style micro benchmarks against one engine.",
        discussion: """
        Phases (run in the order given): fillseq (fresh engine, keys in order), fillrandom \
        (fresh engine, every key once in random order), overwrite (every key again), readrandom \
        (random existing keys), readseq (one ordered scan; ordered engines only), deleterandom \
        (every key, random order); each writing phase ends with the engine's flush() inside its \
        timing, so engines that defer writes pay for them. Keys are the key number zero-padded to --key-size bytes; the \
        key order is fixed by --seed, the same as Benchmarks/reference/kvbench_std. Each line \
        gives micros/op and ops/sec; after each phase a memory line gives the bytes the engine \
        holds per live record, as allocated (from the allocator: jemalloc's mallctl, or glibc's \
        mallinfo2) and resident (RSS), against the raw key + value bytes, and the process's \
        fragmentation ratio (resident / allocated). A fill or overwrite phase may name its own \
        value size: fillrandom,overwrite:1024,overwrite:100 measures fragmentation. Build with \
        -c release for meaningful numbers.
        """
    )

    @OptionGroup var selection: EngineSelection

    @Option(help: "Number of keys.")
    var num: Int = 1_000_000

    @Option(name: .customLong("key-size"), help: "Key size in bytes.")
    var keySize: Int = 16

    @Option(name: .customLong("value-size"), help: "Value size in bytes.")
    var valueSize: Int = 100

    @Option(help: "Seed of the key order.")
    var seed: UInt64 = 301

    @Option(help: ArgumentHelp("Comma-separated phases.", valueName: "list"))
    var benchmarks: String = BenchPhase.allCases.map(\.rawValue).joined(separator: ",")

    @Option(help: ArgumentHelp("Also write the results as JSON to this file.", valueName: "file"))
    var json: String?

    func validate() throws {
        do {
            try configuration().validate()
        } catch {
            throw ValidationError(error.description)
        }
    }

    func configuration() throws(BenchError) -> BenchConfiguration {
        BenchConfiguration(num: num, keySize: keySize, valueSize: valueSize, seed: seed,
                           steps: try BenchConfiguration.parseSteps(benchmarks))
    }

    func run() throws {
        let config = try configuration()
        setvbuf(stdout, nil, _IOLBF, 0)
        print(BenchReport.header(engine: selection.engine, configuration: config))
        // A persistent engine gets a fresh directory under --db for each fill phase.
        let opened = OpenCounter()
        let runner = BenchRunner(configuration: config) { () throws(EngineError) in
            guard let db = selection.db else { return opened.keep(try selection.open()) }
            var fresh = selection
            fresh.db = db + "/bench-\(opened.next())"
            try? FileManager.default.removeItem(atPath: fresh.db!)
            return opened.keep(try fresh.open())
        }
        let engineReport = EngineStatisticsReport()
        var usage = ResourceUsage.now()
        let results: [BenchPhaseResult]
        do {
            results = try runner.run(onPhase: { result in
                print(BenchReport.line(result, num: config.num))
                if let memory = result.memory { print(BenchReport.memoryLine(memory)) }
                let now = ResourceUsage.now()
                print(now.line(since: usage, phase: result.phase.rawValue))
                usage = now
                if let engine = opened.last {
                    for line in engineReport.lines(for: engine, phase: result.phase.rawValue) { print(line) }
                }
            })
        } catch {
            throw CLIError(message: "kvlab bench: \(error)")
        }
        if let json {
            let report = BenchRunReport(engine: selection.engine, options: try selection.parsedOptions().values,
                                        configuration: config, results: results)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            do {
                try encoder.encode(report).write(to: URL(fileURLWithPath: json))
            } catch {
                throw CLIError(message: "kvlab bench: cannot write '\(json)': \(error.localizedDescription)")
            }
        }
    }
}

/// Numbers the engines a bench run opens and keeps the last one (for its statistics lines).
final class OpenCounter: @unchecked Sendable {
    private var count = 0
    private(set) var last: (any KeyValueEngine)?
    func next() -> Int { count += 1; return count }
    func keep(_ engine: any KeyValueEngine) -> any KeyValueEngine { last = engine; return engine }
}

/// The process's page faults, context switches and CPU time (getrusage), to tell per phase
/// whether a phase waited on page faults or shared its cores with background threads.
struct ResourceUsage {
    var minorFaults = 0, majorFaults = 0, voluntarySwitches = 0, involuntarySwitches = 0
    var userSeconds = 0.0, systemSeconds = 0.0, wallSeconds = 0.0

    static func now() -> ResourceUsage {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        func seconds(_ v: timeval) -> Double { Double(v.tv_sec) + Double(v.tv_usec) / 1e6 }
        return ResourceUsage(minorFaults: u.ru_minflt, majorFaults: u.ru_majflt, voluntarySwitches: u.ru_nvcsw,
                             involuntarySwitches: u.ru_nivcsw, userSeconds: seconds(u.ru_utime), systemSeconds: seconds(u.ru_stime),
                             wallSeconds: Double(t.tv_sec) + Double(t.tv_nsec) / 1e9)
    }

    /// `rusage       : ...` for the interval since `earlier` (all threads: CPU seconds above the
    /// wall seconds mean background threads ran alongside the phase).
    func line(since earlier: ResourceUsage, phase: String) -> String {
        String(format: "rusage       : minflt %d majflt %d nvcsw %d nivcsw %d, cpu user %.2f s sys %.2f s over %.2f s wall after %@",
               minorFaults - earlier.minorFaults, majorFaults - earlier.majorFaults, voluntarySwitches - earlier.voluntarySwitches,
               involuntarySwitches - earlier.involuntarySwitches, userSeconds - earlier.userSeconds, systemSeconds - earlier.systemSeconds,
               wallSeconds - earlier.wallSeconds, phase)
    }
}

/// An error the CLI reports as one line on stderr, exiting with status 1 (or `code`).
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var code: Int32 = 1
    var description: String { message }
}
