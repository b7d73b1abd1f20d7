// `kvlab merge` and `kvlab compare`: result files from several clients, and the CI regression gate.

import ArgumentParser
import Foundation
import Measurement

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge result files of several clients into one report by exact histogram merge.",
        discussion: """
        Adds the HdrHistograms of each series, sums operations and statuses, takes the longest \
        run time, and prints YCSB's result lines for the whole. Example:
          kvlab merge client1.json client2.json --output all.json
        """
    )

    @Argument(help: ArgumentHelp("Result files written with --export json.", valueName: "file"))
    var files: [String]

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the merged result as JSON to this file.", valueName: "file"))
    var output: String?

    @Option(help: ArgumentHelp("Percentiles to print.", valueName: "list"))
    var percentiles: String = "95,99"

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one result file") }
    }

    func run() throws {
        let list: [Double]
        do { list = try YCSBTextExporter.parsePercentiles(percentiles) } catch { throw CLIError(message: "kvlab merge: --percentiles: \(error)", code: 2) }
        var results: [RunResult] = []
        for file in files {
            do { results.append(try ResultFile.read(contentsOf: URL(fileURLWithPath: file))) } catch {
                throw CLIError(message: "kvlab merge: \(error)", code: 2)
            }
        }
        let merged: RunResult
        do { merged = try ResultMerger.merge(results, sources: files) } catch { throw CLIError(message: "kvlab merge: \(error)", code: 2) }
        Console.output(YCSBTextExporter(percentiles: list).render(merged), terminator: "")
        if let output {
            do { try ResultFile.write(merged, to: URL(fileURLWithPath: output)) } catch { throw CLIError(message: "kvlab merge: \(error)") }
        }
    }
}

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two result files side by side; exit 1 when a threshold is crossed.",
        discussion: """
        The CI regression gate. Exit status: 0 within thresholds, 1 when NEW's throughput \
        dropped by more than --max-throughput-drop or a series' p99 rose by more than \
        --max-p99-rise, 2 on bad input. Example:
          kvlab compare results/baseline.json new.json --max-throughput-drop 5% --format markdown
        """
    )

    @Argument(help: "The baseline result file.")
    var base: String

    @Argument(help: "The new result file.")
    var new: String

    @Option(name: .customLong("max-throughput-drop"), help: ArgumentHelp("Largest allowed drop of overall throughput (5% or 0.05).", valueName: "fraction"))
    var maxThroughputDrop: String = "5%"

    @Option(name: .customLong("max-p99-rise"), help: ArgumentHelp("Largest allowed rise of any series' p99 latency (10% or 0.1).", valueName: "fraction"))
    var maxP99Rise: String = "10%"

    @Option(help: "Table format: text or markdown.")
    var format: String = "text"

    func run() throws {
        guard format == "text" || format == "markdown" else {
            throw CLIError(message: "kvlab compare: --format \(format): expected text or markdown", code: 2)
        }
        let thresholds: ComparisonThresholds
        let baseResult: RunResult, newResult: RunResult
        do {
            thresholds = ComparisonThresholds(
                maxThroughputDrop: try ComparisonThresholds.parseFraction(maxThroughputDrop, option: "--max-throughput-drop"),
                maxP99Rise: try ComparisonThresholds.parseFraction(maxP99Rise, option: "--max-p99-rise"))
        } catch {
            throw CLIError(message: "kvlab compare: \(error)", code: 2)
        }
        do {
            baseResult = try ResultFile.read(contentsOf: URL(fileURLWithPath: base))
            newResult = try ResultFile.read(contentsOf: URL(fileURLWithPath: new))
        } catch {
            throw CLIError(message: "kvlab compare: \(error)", code: 2)
        }
        let comparison = ResultComparison(base: baseResult, new: newResult, thresholds: thresholds)
        Console.output(format == "markdown" ? comparison.markdownTable() : comparison.textTable())
        switch comparison.verdict {
        case .pass:
            Console.output("verdict: pass")
        case .regression:
            // The table above already lists each crossed threshold.
            Console.output("verdict: regression")
            throw ExitCode(1)
        }
    }
}
