// Counting mode's result file and the callgrind run that produces it.
//
// Cost and use (README "Regression gate" says the same): under callgrind a run is roughly 50–100×
// slower than natively, so counting runs use small operation counts (thousands, not millions).
// Instructions per operation repeat exactly from run to run with a fixed seed and one thread, so
// one run per side decides; they do not see cache misses, contention, I/O or the allocator's
// system calls — gate timing with repeats for those.

import Foundation
import Measurement

/// Instructions and allocations per operation of one in-process run, measured by callgrind.
public struct CountingResult: Sendable, Equatable, Codable {
    /// Always "kvlab-count".
    public var format: String = CountingResult.formatName
    /// Always 1.
    public var version: Int = 1
    /// The run's description (engine, properties with the seed, threads = 1).
    public var metadata: RunMetadata
    /// One entry per operation series that ran.
    public var series: [Series]
    /// Workload operations measured.
    public var operations: UInt64
    /// Calls to malloc and its relatives inside the counted operations.
    public var allocationCalls: UInt64
    /// What `valgrind --version` printed.
    public var valgrind: String

    /// One operation series' counts.
    public struct Series: Sendable, Equatable, Codable {
        /// YCSB series name (READ, UPDATE, ...).
        public var name: String
        /// Operations of this kind.
        public var operations: UInt64
        /// Instructions executed inside them (inclusive).
        public var instructions: UInt64
        /// instructions / operations.
        public var instructionsPerOperation: Double
    }

    /// The format tag of counting result files.
    public static let formatName = "kvlab-count"

    /// Allocations per measured operation (all series together).
    public var allocationsPerOperation: Double { operations == 0 ? 0 : Double(allocationCalls) / Double(operations) }

    /// Combines the worker's result (operations per series) with its callgrind profile.
    public init(result: RunResult, profile: CallgrindProfile, valgrind: String) {
        metadata = result.metadata
        operations = result.operations
        allocationCalls = profile.allocationCalls
        self.valgrind = valgrind
        series = CountingTarget.symbols.compactMap { entry in
            guard let measured = result.series(named: entry.series), measured.operations > 0 else { return nil }
            let instructions = profile.inclusiveInstructions[entry.symbol] ?? 0
            return Series(name: entry.series, operations: measured.operations, instructions: instructions,
                          instructionsPerOperation: Double(instructions) / Double(measured.operations))
        }
    }

    /// Pretty-printed JSON with sorted keys.
    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = (try? encoder.encode(self)) ?? Data()
        data.append(0x0A)
        return data
    }

    /// Reads a counting result file.
    /// - Throws: `CountingError.resultFile` naming the file and the problem.
    public static func read(contentsOf url: URL) throws(CountingError) -> CountingResult {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw .resultFile(file: url.path, detail: "cannot read: \(error.localizedDescription)") }
        return try decode(data, file: url.path)
    }

    /// Decodes a counting result document.
    public static func decode(_ data: Data, file: String) throws(CountingError) -> CountingResult {
        let result: CountingResult
        do { result = try JSONDecoder().decode(CountingResult.self, from: data) } catch {
            throw .resultFile(file: file, detail: "not a kvlab counting result: \(error)")
        }
        guard result.format == formatName, result.version == 1 else {
            throw .resultFile(file: file, detail: "format '\(result.format)' version \(result.version), expected '\(formatName)' version 1")
        }
        return result
    }

    /// Whether a document is a counting result (by its `format` field).
    public static func isCountingResult(_ data: Data) -> Bool {
        struct Envelope: Decodable { let format: String? }
        return (try? JSONDecoder().decode(Envelope.self, from: data))?.format == formatName
    }
}

/// Runs a counting worker under callgrind and reads what it measured.
public enum CallgrindCounter {
    /// The valgrind arguments that count only inside `CountingTarget`'s functions.
    public static func valgrindArguments(outputFile: String) -> [String] {
        // One file per thread: collection is switched on process-wide while the driver thread is
        // inside a counted function, so other threads' malloc calls in that window must be told apart.
        ["--tool=callgrind", "--callgrind-out-file=\(outputFile)", "--collect-atstart=no", "--separate-threads=yes"]
            + CountingTarget.symbols.map { "--toggle-collect=\($0.symbol)" }
    }

    /// Runs `executable arguments` under valgrind in `directory`, which must receive the worker's
    /// result file at `resultFile`; returns the combined counting result.
    /// - Parameters:
    ///   - valgrind: path of the valgrind executable.
    ///   - executable: the kvlab executable to run as the worker.
    ///   - arguments: the worker's arguments (they must make it write `resultFile`).
    ///   - directory: a scratch directory for callgrind's output.
    ///   - resultFile: where the worker writes its `RunResult` JSON.
    /// - Throws: `CountingError.valgrind` when valgrind is missing or the worker fails.
    public static func count(valgrind: String, executable: String, arguments: [String], directory: URL,
                             resultFile: URL) throws(CountingError) -> CountingResult {
        guard FileManager.default.isExecutableFile(atPath: valgrind) else {
            throw .valgrind("valgrind not found at \(valgrind): counting mode needs it (Debian: apt-get install valgrind)")
        }
        let profilePath = directory.appendingPathComponent("callgrind.out").path   // callgrind appends -NN per thread
        let version = (try? capture(valgrind, ["--version"]).output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? "unknown"
        let run: (status: Int32, output: String)
        do { run = try capture(valgrind, valgrindArguments(outputFile: profilePath) + [executable] + arguments) } catch {
            throw .valgrind("cannot start valgrind: \(error)")
        }
        guard run.status == 0 else {
            throw .valgrind("the counting worker under valgrind exited with status \(run.status):\n" + run.output.suffix(2000))
        }
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasPrefix("callgrind.out") }.sorted()
        guard !files.isEmpty else { throw .valgrind("callgrind wrote no profile in \(directory.path)") }
        let symbols = Set(CountingTarget.symbols.map(\.symbol))
        var profile = CallgrindProfile(inclusiveInstructions: [:], allocationCalls: 0, totalInstructions: 0)
        for file in files {
            let path = directory.appendingPathComponent(file).path
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw .valgrind("cannot read callgrind profile \(path): \(error.localizedDescription)")
            }
            // The base name stays as an empty file beside the per-thread ones.
            if text.isEmpty { continue }
            let part = try CallgrindProfile.parse(text, functions: symbols, file: path)
            // Only the threads that ran counted operations: their allocations are the operations'.
            guard part.inclusiveInstructions.values.contains(where: { $0 > 0 }) else { continue }
            for (symbol, cost) in part.inclusiveInstructions { profile.inclusiveInstructions[symbol, default: 0] += cost }
            profile.allocationCalls += part.allocationCalls
            profile.totalInstructions += part.totalInstructions
        }
        let result: RunResult
        do { result = try ResultFile.read(contentsOf: resultFile) } catch {
            throw .resultFile(file: resultFile.path, detail: "the worker's result: \(error)")
        }
        return CountingResult(result: result, profile: profile, valgrind: version)
    }

    /// Runs a process to completion, collecting stdout and stderr together.
    static func capture(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

extension RegressionGate {
    /// Compares counting results: instructions per operation per series and allocations per
    /// operation, exactly (no test: identical inputs give identical counts).
    /// - Throws: `GateError` for empty sides or runs of different workloads.
    public static func compare(base: [(source: String, result: CountingResult)], new: [(source: String, result: CountingResult)],
                               settings: GateSettings = GateSettings()) throws(GateError) -> GateReport {
        guard !base.isEmpty else { throw .noRuns(side: "BASE") }
        guard !new.isEmpty else { throw .noRuns(side: "NEW") }
        let all = (base + new).map { entry in
            SourcedResult(source: entry.source, result: RunResult(metadata: entry.result.metadata, runtimeMilliseconds: 0,
                                                                  operations: entry.result.operations, series: []))
        }
        var ignored = settings.ignoredProperties
        ignored.insert("operationcount")   // compared per operation; the count only sets the precision
        try checkComparable(all, ignoring: ignored)
        var names: [String] = []
        for entry in base + new { for series in entry.result.series where !names.contains(series.name) { names.append(series.name) } }
        var metrics: [GateMetric] = names.map { name in
            func values(_ side: [(source: String, result: CountingResult)]) -> [Double] {
                side.compactMap { $0.result.series.first { $0.name == name }?.instructionsPerOperation }
            }
            return GateMetric(name: "\(name) instructions", unit: "instr/op", direction: .lowerIsBetter, limit: settings.maxCountRise,
                              exact: true, base: values(base), new: values(new))
        }
        var allocations = GateMetric(name: "allocations", unit: "alloc/op", direction: .lowerIsBetter, limit: settings.maxCountRise,
                                     exact: true, base: base.map { $0.result.allocationsPerOperation }, new: new.map { $0.result.allocationsPerOperation })
        allocations.gated = settings.gateAllocations
        metrics.append(allocations)
        return try evaluate(metrics, baseRuns: base.count, newRuns: new.count, settings: settings)
    }
}
