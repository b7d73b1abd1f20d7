// Merging results of several clients and comparing BASE against NEW.

import Foundation
import Histogram
import Testing
@testable import Measurement

@Suite struct MergeCompareTests {
    @Test("merging two results equals recording everything into one histogram")
    func mergeIsExact() throws {
        var rng = Fixtures.SplitMix64(state: 2024)
        var all = OperationRecorder(), first = OperationRecorder(), second = OperationRecorder()
        for i in 0..<6000 {
            let kind: OperationKind = i % 3 == 0 ? .update : .read
            let status: OperationStatus = i % 50 == 0 ? .notFound : .ok
            let nanos = rng.latencyNanos()
            all.record(series: kind, nanos: nanos, status: status)
            if i < 2500 { first.record(series: kind, nanos: nanos, status: status) } else { second.record(series: kind, nanos: nanos, status: status) }
        }
        let a = RunResult(metadata: Fixtures.metadata(threads: 2), runtimeMilliseconds: 900, operations: 2500, recorders: [first])
        var bMeta = Fixtures.metadata(threads: 3, start: 1_775_044_790)
        bMeta.warmUpExcludedOperations = 10
        let b = RunResult(metadata: bMeta, runtimeMilliseconds: 1000, operations: 3500, recorders: [second])
        // Through JSON, as `kvlab merge` sees them.
        let decoded = try [a, b].map { try ResultFile.decode(ResultFile.encode($0), file: "x.json") }
        let merged = try ResultMerger.merge(decoded, sources: ["a.json", "b.json"])
        let expected = RunResult(metadata: Fixtures.metadata(), runtimeMilliseconds: 1000, operations: 6000, recorders: [all])

        #expect(merged.series.map(\.name).sorted() == expected.series.map(\.name).sorted())
        for series in expected.series {
            let m = try #require(merged.series(named: series.name))
            #expect(m.histogram == series.histogram, "\(series.name)")
            #expect(m.returns == series.returns, "\(series.name)")
        }
        #expect(YCSBTextExporter().render(merged) == YCSBTextExporter().render(
            RunResult(metadata: merged.metadata, runtimeMilliseconds: 1000, operations: 6000,
                      series: merged.series.map { s in expected.series(named: s.name)! })))
        #expect(merged.runtimeMilliseconds == 1000)
        #expect(merged.operations == 6000)
        #expect(merged.throughput == 6000)
        #expect(merged.metadata.threads == 5)
        #expect(merged.metadata.mergedFrom == ["a.json", "b.json"])
        #expect(merged.metadata.startTime == Date(timeIntervalSince1970: 1_775_044_790))
        #expect(merged.metadata.warmUpExcludedOperations == 10)
    }

    @Test("merging nothing is an error")
    func mergeNothing() {
        #expect(throws: ResultMergeError.noResults) { try ResultMerger.merge([]) }
    }

    @Test("thresholds parse as percentages or fractions", arguments: [("5%", 0.05), ("0.05", 0.05), ("12.5 %", 0.125), ("0", 0.0)])
    func thresholds(text: String, expected: Double) throws {
        #expect(try ComparisonThresholds.parseFraction(text, option: "--max-p99-rise") == expected)
    }

    @Test("a bad threshold names the option")
    func badThreshold() {
        #expect(throws: ThresholdParseError(option: "--max-throughput-drop", text: "five")) {
            try ComparisonThresholds.parseFraction("five", option: "--max-throughput-drop")
        }
        #expect(throws: ThresholdParseError.self) { try ComparisonThresholds.parseFraction("-5%", option: "x") }
    }

    @Test("comparing a result with a slightly different rerun passes")
    func comparePasses() {
        let base = Fixtures.result(seed: 1, count: 20_000, runtimeMs: 1000)
        let new = Fixtures.result(seed: 1, count: 20_000, runtimeMs: 1020)
        let comparison = ResultComparison(base: base, new: new, thresholds: .init(maxThroughputDrop: 0.05, maxP99Rise: 0.10))
        #expect(comparison.verdict == .pass)
        #expect(comparison.textTable().contains("PASS"))
        #expect(comparison.markdownTable().hasPrefix("| series | metric | base | new | change |\n|---|---|---:|---:|---:|\n"))
        #expect(comparison.rows.count == 1 + 2 * 5)
    }

    @Test("a 20% throughput drop fails a 5% threshold")
    func throughputRegression() {
        let base = Fixtures.result(seed: 1, count: 20_000, runtimeMs: 1000)
        let new = Fixtures.result(seed: 1, count: 20_000, runtimeMs: 1250)
        let comparison = ResultComparison(base: base, new: new, thresholds: .init(maxThroughputDrop: 0.05, maxP99Rise: 0.10))
        #expect(comparison.violations.map(\.series) == ["OVERALL"])
        let violation = comparison.violations[0]
        #expect(abs(violation.change - 0.2) < 1e-9)
        #expect(comparison.textTable().contains("REGRESSION"))
        #expect(comparison.textTable().contains("OVERALL Throughput(ops/sec) dropped 20.0% (limit 5.0%)"))
        #expect(comparison.markdownTable().contains("**REGRESSION**"))
    }

    @Test("a p99 rise beyond the threshold fails, naming the series")
    func p99Regression() {
        let base = Fixtures.result(seed: 1, count: 20_000, runtimeMs: 1000)
        let new = Fixtures.result(seed: 1, count: 20_000, runtimeMs: 1000, slowdown: 2)
        let comparison = ResultComparison(base: base, new: new, thresholds: .init(maxThroughputDrop: 0.05, maxP99Rise: 0.10))
        #expect(Set(comparison.violations.map(\.series)) == ["READ", "UPDATE"])
        #expect(comparison.violations.allSatisfy { $0.metric == "p99(us)" && $0.change > 0.9 })
        let lenient = ResultComparison(base: base, new: new, thresholds: .init(maxThroughputDrop: 0.05, maxP99Rise: 1.5))
        #expect(lenient.verdict == .pass)
    }
}
