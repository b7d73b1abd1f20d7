// `kvlab gate` (repeat-aware regression gate), `kvlab count` (instruction counts under callgrind) and its worker.

import ArgumentParser
import Driver
import Foundation
import Gate
import KVCore
import KVEngines
import Measurement
import Workload

struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract: "Gate a change on repeated runs: BASE result files vs NEW result files, by rank test and effect size.",
        discussion: """
        Compares distributions, not single numbers: per metric the medians, the Hodges–Lehmann \
        shift, Cliff's delta and a one-sided Mann–Whitney U p-value. A metric fails only when NEW \
        is worse with p < --significance AND the shift is beyond its limit. Runs must share engine, \
        threads, target and workload properties.
        Which metric decides (--metric): for in-process engines (auto) the driver threads' CPU time \
        per operation in each run's fastest 2048-operation chunk: a thread's CPU clock stops while it \
        is preempted, and what still inflates CPU time (a busy hyperthread sibling, refilled caches) \
        only adds, so the fastest chunk moves far less between identical runs on a shared machine \
        than wall-clock throughput does (results/gate.md). It is a CPU-cost \
        metric and does not see waits (I/O, locks, network): for network targets, runs of several \
        threads, the file-backed lsm and btree, and result files without CPU time, throughput and \
        each series' p99 decide. The other rows are shown, \
        marked (not gated). Whole-run CPU per operation is gated too, with a wider limit \
        (--max-cpu-mean-rise): it sees costs rarer than once per chunk. Documented default for a 10% \
        CPU regression of an in-process engine: --repeat 12 of 3,000,000 operations per run, one \
        thread (see README "Regression gate on a noisy machine": slow stretches of a shared machine \
        outlast shorter runs). \
        Counting results (kvlab count) are compared exactly. Exit status: 0 pass, 1 regression, \
        2 bad input, 3 not enough runs to decide (with alpha 0.05: at least 4 runs per side).
          kvlab gate base-*.json -- new-*.json --format markdown
        Or let the gate run both sides itself, interleaved A B A B, with two kvlab builds:
          kvlab gate --repeat 12 --base-kvlab /tmp/main/kvlab --new-kvlab .build/release/kvlab \\
              -- run -P workloads/workloada -p operationcount=3000000 --engine hash -threads 1
        Options go before the files (or before the run arguments).
        """
    )

    @Option(help: "Table format: text or markdown.")
    var format: String = "text"

    @Option(help: ArgumentHelp("Also write the markdown table to this file (for a pull-request comment).", valueName: "file"))
    var markdown: String?

    @Option(help: ArgumentHelp("Significance level of the one-sided test.", valueName: "alpha"))
    var significance: Double = 0.05

    @Option(name: .customLong("max-throughput-drop"), help: ArgumentHelp("Largest tolerated throughput drop (5% or 0.05).", valueName: "fraction"))
    var maxThroughputDrop: String = "5%"

    @Option(name: .customLong("max-p99-rise"), help: ArgumentHelp("Largest tolerated rise of a series' p99.", valueName: "fraction"))
    var maxP99Rise: String = "10%"

    @Option(help: ArgumentHelp("Timed metric that decides: auto (cpu for single-threaded in-process runs with CPU time, except on the file-backed lsm and btree; else throughput), cpu, or throughput (and p99).", valueName: "metric"))
    var metric: String = "auto"

    @Option(name: .customLong("max-cpu-rise"), help: ArgumentHelp("Largest tolerated rise of CPU time per operation.", valueName: "fraction"))
    var maxCPURise: String = "5%"

    @Option(name: .customLong("max-cpu-mean-rise"), help: ArgumentHelp("Largest tolerated rise of CPU time per operation over whole runs (catches costs rarer than once per 2048-operation chunk).", valueName: "fraction"))
    var maxCPUMeanRise: String = "15%"

    @Flag(name: .customLong("report-allocations"), help: "Counting mode: report allocations per operation without gating them (instructions still gate).")
    var reportAllocations = false

    @Option(name: .customLong("max-count-rise"), help: ArgumentHelp("Counting mode: largest tolerated rise of instructions or allocations per operation.", valueName: "fraction"))
    var maxCountRise: String = "1%"

    @Option(help: ArgumentHelp("Run both sides N times each, interleaved, instead of reading files.", valueName: "n"))
    var `repeat`: Int?

    @Option(name: .customLong("base-kvlab"), help: ArgumentHelp("With --repeat: the kvlab executable of BASE.", valueName: "path"))
    var baseKVLab: String?

    @Option(name: .customLong("new-kvlab"), help: ArgumentHelp("With --repeat: the kvlab executable of NEW (default: this one).", valueName: "path"))
    var newKVLab: String?

    @Option(name: .customLong("base-env"), help: ArgumentHelp("With --repeat: an environment variable for BASE runs; repeatable.", valueName: "key=value"))
    var baseEnvironment: [String] = []

    @Option(name: .customLong("new-env"), help: ArgumentHelp("With --repeat: an environment variable for NEW runs; repeatable.", valueName: "key=value"))
    var newEnvironment: [String] = []

    @Option(name: .customLong("results-dir"), help: ArgumentHelp("With --repeat: keep the result files here (default: a temporary directory).", valueName: "dir"))
    var resultsDirectory: String?

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("BASE files -- NEW files, or with --repeat: -- run|count ARGS.", valueName: "args"))
    var arguments: [String] = []

    func run() throws {
        guard format == "text" || format == "markdown" else { throw CLIError(message: "kvlab gate: --format \(format): expected text or markdown", code: 2) }
        var settings: GateSettings
        let timedMetric = try Self.parseMetric(metric)
        do {
            settings = GateSettings(
                significance: significance,
                maxThroughputDrop: try ComparisonThresholds.parseFraction(maxThroughputDrop, option: "--max-throughput-drop"),
                maxP99Rise: try ComparisonThresholds.parseFraction(maxP99Rise, option: "--max-p99-rise"),
                maxCountRise: try ComparisonThresholds.parseFraction(maxCountRise, option: "--max-count-rise"),
                maxCPURise: try ComparisonThresholds.parseFraction(maxCPURise, option: "--max-cpu-rise"),
                timedMetric: timedMetric)
            settings.maxCPUMeanRise = try ComparisonThresholds.parseFraction(maxCPUMeanRise, option: "--max-cpu-mean-rise")
            settings.gateAllocations = !reportAllocations
        } catch { throw CLIError(message: "kvlab gate: \(error)", code: 2) }

        let baseFiles: [String], newFiles: [String]
        if let count = self.repeat {
            (baseFiles, newFiles) = try runRepeats(count)
        } else {
            guard let separator = arguments.firstIndex(of: "--") else {
                throw CLIError(message: "kvlab gate: separate BASE and NEW result files with --, e.g. kvlab gate base1.json base2.json -- new1.json new2.json", code: 2)
            }
            baseFiles = Array(arguments[..<separator])
            newFiles = Array(arguments[arguments.index(after: separator)...])
        }
        let report = try Self.evaluate(base: baseFiles, new: newFiles, settings: settings)
        let table = format == "markdown" ? report.markdownTable() : report.textTable()
        Console.output(table, terminator: "")
        if let markdown {
            do { try Data(report.markdownTable().utf8).write(to: URL(fileURLWithPath: markdown)) } catch {
                throw CLIError(message: "kvlab gate: cannot write --markdown '\(markdown)': \(error.localizedDescription)", code: 2)
            }
        }
        Console.output("verdict: \(report.verdictWord)")
        if report.exitStatus != 0 { throw ExitCode(report.exitStatus) }
    }

    static func parseMetric(_ text: String) throws -> TimedGateMetric {
        guard let metric = TimedGateMetric(rawValue: text) else {
            throw CLIError(message: "kvlab gate: --metric \(text): expected \(TimedGateMetric.allCases.map(\.rawValue).joined(separator: ", "))", code: 2)
        }
        return metric
    }

    /// Reads both sides (all timed or all counting results) and runs the gate.
    static func evaluate(base: [String], new: [String], settings: GateSettings) throws -> GateReport {
        func read(_ files: [String]) throws -> (timed: [SourcedResult], counted: [(source: String, result: CountingResult)]) {
            var timed: [SourcedResult] = [], counted: [(source: String, result: CountingResult)] = []
            for file in files {
                let url = URL(fileURLWithPath: file)
                guard let data = try? Data(contentsOf: url) else { throw CLIError(message: "kvlab gate: cannot read '\(file)'", code: 2) }
                do {
                    if CountingResult.isCountingResult(data) {
                        counted.append((file, try CountingResult.decode(data, file: file)))
                    } else {
                        timed.append(SourcedResult(source: file, result: try ResultFile.decode(data, file: file)))
                    }
                } catch { throw CLIError(message: "kvlab gate: \(error)", code: 2) }
            }
            return (timed, counted)
        }
        let b = try read(base), n = try read(new)
        do {
            if b.counted.isEmpty && n.counted.isEmpty {
                return try RegressionGate.compare(base: b.timed, new: n.timed, settings: settings)
            }
            guard b.timed.isEmpty && n.timed.isEmpty else {
                throw GateError.mixedKinds("give only kvlab run result files or only kvlab count result files")
            }
            return try RegressionGate.compare(base: b.counted, new: n.counted, settings: settings)
        } catch let error as GateError {
            throw CLIError(message: "kvlab gate: \(error)", code: 2)
        }
    }

    /// Runs BASE and NEW alternately `count` times each and returns the result files.
    private func runRepeats(_ count: Int) throws -> ([String], [String]) {
        guard count >= 1 else { throw CLIError(message: "kvlab gate: --repeat \(count): expected at least 1", code: 2) }
        guard let separator = arguments.firstIndex(of: "--") else {
            throw CLIError(message: "kvlab gate --repeat: give the kvlab arguments after --, e.g. -- run -P workloads/workloada --engine hash", code: 2)
        }
        let command = Array(arguments[arguments.index(after: separator)...])
        guard let subcommand = command.first, subcommand == "run" || subcommand == "count" else {
            throw CLIError(message: "kvlab gate --repeat: the arguments after -- must start with run or count (got '\(command.first ?? "")')", code: 2)
        }
        let this = currentExecutable()
        let base = baseKVLab ?? this, new = newKVLab ?? this
        for path in [base, new] where !FileManager.default.isExecutableFile(atPath: path) {
            throw CLIError(message: "kvlab gate: '\(path)' is not an executable kvlab", code: 2)
        }
        let directory = resultsDirectory.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-gate-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var baseFiles: [String] = [], newFiles: [String] = []
        for index in 1...count {
            // Interleaved so a drift of the machine (another job starting, thermal state) hits both sides alike.
            for (side, executable, extra) in [("base", base, baseEnvironment), ("new", new, newEnvironment)] {
                let file = directory.appendingPathComponent("\(side)-\(index).json").path
                let output = subcommand == "run" ? ["--export", "json", file] : ["--output", file]
                Console.error("kvlab gate: \(side) \(index)/\(count)")
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = command + output
                process.standardOutput = FileHandle.nullDevice
                process.standardInput = FileHandle.nullDevice
                var environment = ProcessInfo.processInfo.environment
                for pair in extra {
                    guard let equals = pair.firstIndex(of: "=") else {
                        throw CLIError(message: "kvlab gate: --\(side)-env '\(pair)': expected key=value", code: 2)
                    }
                    environment[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
                }
                process.environment = environment
                do { try process.run() } catch { throw CLIError(message: "kvlab gate: cannot start \(executable): \(error)", code: 2) }
                process.waitUntilExit()
                guard process.terminationStatus == 0 else {
                    throw CLIError(message: "kvlab gate: \(side) run \(index) (\(executable) \(command.joined(separator: " "))) exited with status \(process.terminationStatus)", code: 2)
                }
                if side == "base" { baseFiles.append(file) } else { newFiles.append(file) }
            }
        }
        return (baseFiles, newFiles)
    }
}

/// The path of the running kvlab executable.
func currentExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

struct CountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "count",
        abstract: "Counting mode: instructions and allocations per operation of an in-process run, under callgrind.",
        discussion: """
        Runs the workload's load (not counted) and operationcount operations with one thread and \
        the workload's fixed seed under valgrind --tool=callgrind, counting only inside the \
        engine operations (not the driver), and writes instructions per operation per series \
        and allocations per operation. The counts repeat exactly, so one run per side gates a \
        change (kvlab gate base.json -- new.json). Callgrind slows the run 50–100×: keep \
        recordcount and operationcount in the thousands. Example:
          kvlab count -P workloads/workloada -p recordcount=2000 -p operationcount=5000 --engine hash --output count.json
        """
    )

    @Option(name: .customShort("P"), help: ArgumentHelp("A workload property file; repeatable.", valueName: "file"))
    var propertyFiles: [String] = []

    @Option(name: .customShort("p"), help: ArgumentHelp("A property (key=value); repeatable.", valueName: "key=value"))
    var properties: [String] = []

    @OptionGroup var selection: EngineSelection

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the counting result (JSON) here.", valueName: "file"))
    var output: String?

    @Option(help: ArgumentHelp("The valgrind executable.", valueName: "path"))
    var valgrind: String = "/usr/bin/valgrind"

    func run() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-count-\(ProcessInfo.processInfo.processIdentifier)-\(UInt64.random(in: 0...UInt64.max))")
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw CLIError(message: "kvlab count: cannot create a scratch directory: \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        let resultFile = directory.appendingPathComponent("worker.json")
        var workerArguments = ["count-worker", "--result", resultFile.path, "--engine", selection.engine]
        for file in propertyFiles { workerArguments += ["-P", file] }
        for property in properties { workerArguments += ["-p", property] }
        for option in selection.options { workerArguments += ["--option", option] }
        if let db = selection.db { workerArguments += ["--db", db] }
        // valgrind 3.2x cannot read the DWARF 5 debug sections of Swift's debug builds ("possibly
        // corrupted debuginfo"); a copy without them keeps the symbol table, which is all callgrind's
        // --toggle-collect needs.
        let worker = directory.appendingPathComponent("kvlab-worker").path
        let strip = Process()
        strip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        strip.arguments = ["strip", "--strip-debug", "-o", worker, currentExecutable()]
        do { try strip.run() } catch { throw CLIError(message: "kvlab count: cannot run strip (binutils): \(error)", code: 2) }
        strip.waitUntilExit()
        guard strip.terminationStatus == 0 else { throw CLIError(message: "kvlab count: strip --strip-debug \(currentExecutable()) failed (binutils needed)", code: 2) }
        let result: CountingResult
        do {
            result = try CallgrindCounter.count(valgrind: valgrind, executable: worker, arguments: workerArguments,
                                                directory: directory, resultFile: resultFile)
        } catch { throw CLIError(message: "kvlab count: \(error)", code: 2) }
        var lines = ["series      operations  instructions/op", "----------  ----------  ---------------"]
        for series in result.series {
            lines.append(series.name.padding(toLength: 10, withPad: " ", startingAt: 0) + "  "
                         + String(series.operations).leftPadded(10) + "  " + String(format: "%15.1f", series.instructionsPerOperation))
        }
        lines.append(String(format: "allocations/op: %.3f (%llu calls over %llu operations)", result.allocationsPerOperation,
                            result.allocationCalls, result.operations))
        Console.output(lines.joined(separator: "\n"))
        if let output {
            do { try result.encoded().write(to: URL(fileURLWithPath: output)) } catch {
                throw CLIError(message: "kvlab count: cannot write '\(output)': \(error.localizedDescription)")
            }
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

struct CountWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "count-worker", abstract: "The process kvlab count runs under callgrind.", shouldDisplay: false)

    @Option(name: .customShort("P")) var propertyFiles: [String] = []
    @Option(name: .customShort("p")) var properties: [String] = []
    @OptionGroup var selection: EngineSelection
    @Option var result: String

    func run() throws {
        let runner = try makeWorkloadRunner(propertyFiles: propertyFiles, properties: properties + ["threadcount=1"],
                                            selection: selection, command: "count")
        let engine: any KeyValueEngine
        do { engine = try selection.open() } catch { throw CLIError(message: "kvlab count: \(error)", code: 2) }
        defer { try? engine.close() }
        let target = InProcessTarget(engine: engine)
        do {
            if !engine.capabilities.contains(.persistent) || selection.db == nil { _ = try runner.load(into: target) }
            let measured = try runner.run(on: CountingTarget(target), threads: 1)
            try ResultFile.write(measured, to: URL(fileURLWithPath: result))
        } catch { throw CLIError(message: "kvlab count: \(error)") }
    }
}

/// Parses -P/-p into a workload and a runner whose results describe the selected engine.
func makeWorkloadRunner(propertyFiles: [String], properties: [String], selection: EngineSelection,
                        command: String, engineName: String? = nil) throws -> WorkloadRunner {
    let configuration: CoreWorkloadConfiguration
    var merged = WorkloadProperties()
    do {
        for file in propertyFiles { try merged.load(file: file) }
        for property in properties { try merged.applyOverride(property) }
        configuration = try CoreWorkloadConfiguration(properties: merged)
    } catch { throw CLIError(message: "kvlab \(command): \(error)", code: 2) }
    var effective: [String: String] = [:]
    for (key, value) in merged.all { effective[key] = value.value }
    let options = (try? selection.parsedOptions().values) ?? [:]
    let metadata = RunMetadata(kvlabVersion: KVLabVersion.string, gitCommit: KVLabVersion.gitCommit, engine: engineName ?? selection.engine,
                               engineOptions: options, properties: effective, threads: configuration.threadCount,
                               startTime: Date(), machineCores: ProcessInfo.processInfo.activeProcessorCount, phase: .run)
    return WorkloadRunner(configuration: configuration, metadata: metadata)
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Render result files as a markdown table and a standalone HTML page with plots.",
        discussion: """
        Reads kvlab result files (directories are searched for *.json; counting results are \
        skipped) and writes a markdown table (stdout, or --markdown FILE) and, with --html, a \
        page with throughput and p50/p99 across the runs and the newest runs' percentile spectra. Example:
          kvlab report results/baselines --html report.html --markdown report.md
        """
    )

    @Argument(help: ArgumentHelp("Result files or directories.", valueName: "path"))
    var paths: [String]

    @Option(help: ArgumentHelp("Write the HTML page here.", valueName: "file"))
    var html: String?

    @Option(help: ArgumentHelp("Write the markdown table here instead of stdout.", valueName: "file"))
    var markdown: String?

    @Option(help: "The page title.")
    var title: String = "kvlab results"

    func run() throws {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CLIError(message: "kvlab report: '\(path)' does not exist", code: 2)
            }
            if isDirectory.boolValue {
                let enumerator = FileManager.default.enumerator(atPath: path)
                while let entry = enumerator?.nextObject() as? String {
                    if entry.hasSuffix(".json") { files.append((path as NSString).appendingPathComponent(entry)) }
                }
            } else {
                files.append(path)
            }
        }
        var runs: [SourcedResult] = []
        for file in files.sorted() {
            guard let data = FileManager.default.contents(atPath: file) else { throw CLIError(message: "kvlab report: cannot read '\(file)'", code: 2) }
            if CountingResult.isCountingResult(data) {
                Console.error("kvlab report: skipping counting result \(file)")
                continue
            }
            do { runs.append(SourcedResult(source: file, result: try ResultFile.decode(data, file: file))) } catch {
                throw CLIError(message: "kvlab report: \(error)", code: 2)
            }
        }
        guard !runs.isEmpty else { throw CLIError(message: "kvlab report: no result files found in \(paths.joined(separator: " "))", code: 2) }
        let report = ResultReport(runs: runs)
        let table = report.markdownTable()
        if let markdown {
            do { try Data(table.utf8).write(to: URL(fileURLWithPath: markdown)) } catch {
                throw CLIError(message: "kvlab report: cannot write '\(markdown)': \(error.localizedDescription)")
            }
        } else {
            Console.output(table, terminator: "")
        }
        if let html {
            do { try Data(try report.html(title: title).utf8).write(to: URL(fileURLWithPath: html)) } catch {
                throw CLIError(message: "kvlab report: cannot write '\(html)': \(error)")
            }
            Console.error("kvlab report: wrote \(html) (\(runs.count) runs)")
        }
    }
}
