// The gate's decisions over synthetic runs: regressions, noise, too few runs, mismatches, errors.

import Foundation
import Histogram
import Measurement
import Testing
@testable import Gate

enum GateFixtures {
    static func metadata(engine: String = "hash", threads: Int = 1, properties: [String: String] = [:]) -> RunMetadata {
        var props = ["workload": "site.ycsb.workloads.CoreWorkload", "recordcount": "1000", "operationcount": "1000"]
        for (key, value) in properties { props[key] = value }
        return RunMetadata(kvlabVersion: "0.1.0", engine: engine, properties: props, threads: threads,
                           startTime: Date(timeIntervalSince1970: 1_775_044_800), machineCores: 2, phase: .run)
    }

    /// A run of `operations` READs in `milliseconds`, every READ taking `p99Micros` at the tail.
    static func run(throughput: Double, p99Micros: UInt64, engine: String = "hash", errors: UInt64 = 0,
                    extraSeries: String? = nil, properties: [String: String] = [:]) -> RunResult {
        var histogram = LatencyHistogram.make()
        histogram.record(1, count: 98)
        histogram.record(p99Micros, count: 2)
        var series = [SeriesResult(name: "READ", histogram: histogram, returns: ["OK": 100 - errors, "ERROR": errors])]
        if let extraSeries {
            var extra = LatencyHistogram.make()
            extra.record(5, count: 1)
            series.append(SeriesResult(name: extraSeries, histogram: extra))
        }
        return RunResult(metadata: metadata(engine: engine, properties: properties), runtimeMilliseconds: 1000,
                         operations: UInt64(throughput), series: series)
    }

    static func sourced(_ results: [RunResult], _ side: String) -> [SourcedResult] {
        results.enumerated().map { SourcedResult(source: "\(side) \($0.offset + 1)", result: $0.element) }
    }
}

@Suite("Regression gate")
struct RegressionGateTests {
    typealias F = GateFixtures

    @Test("a 10% throughput drop over 8 noisy runs per side is a regression (exit 1)")
    func catchesDrop() throws {
        let noise = [0.0, 0.02, -0.015, 0.01, -0.02, 0.015, -0.01, 0.005]
        let base = noise.map { F.run(throughput: 100_000 * (1 + $0), p99Micros: 50) }
        let new = noise.reversed().map { F.run(throughput: 90_000 * (1 + $0), p99Micros: 50) }
        let report = try RegressionGate.compare(base: F.sourced(base, "base"), new: F.sourced(new, "new"))
        let row = try #require(report.rows.first { $0.metric.name == "OVERALL throughput" })
        #expect(row.verdict == .regression)
        #expect(try #require(row.relativeShift) < -0.08)
        #expect(try #require(row.pValue) < 0.05)
        #expect(report.exitStatus == 1)
        #expect(report.textTable().contains("regression"))
        #expect(report.markdownTable().contains("**regression**"))
    }

    @Test("an unchanged rerun with the same noise passes (exit 0)")
    func passesNoise() throws {
        let noise = [0.0, 0.02, -0.015, 0.01, -0.02, 0.015, -0.01, 0.005]
        let base = noise.map { F.run(throughput: 100_000 * (1 + $0), p99Micros: 50) }
        let new = noise.shuffled(using: &FixedGenerator.shared).map { F.run(throughput: 100_000 * (1 + $0 * 0.9), p99Micros: 50) }
        let report = try RegressionGate.compare(base: F.sourced(base, "base"), new: F.sourced(new, "new"))
        #expect(report.rows.allSatisfy { $0.verdict == .pass })
        #expect(report.exitStatus == 0)
    }

    @Test("a significant shift smaller than the limit passes")
    func smallShiftPasses() throws {
        let base = (0..<8).map { F.run(throughput: 100_000 + Double($0) * 10, p99Micros: 50) }
        let new = (0..<8).map { F.run(throughput: 98_000 + Double($0) * 10, p99Micros: 50) }
        let report = try RegressionGate.compare(base: F.sourced(base, "base"), new: F.sourced(new, "new"))
        let row = try #require(report.rows.first { $0.metric.name == "OVERALL throughput" })
        #expect(try #require(row.pValue) < 0.05)
        #expect(row.verdict == .pass)
    }

    @Test("a p99 rise beyond the limit regresses; a p99 fall is reported as an improvement")
    func latency() throws {
        let base = (0..<6).map { F.run(throughput: 100_000, p99Micros: 100 + UInt64($0)) }
        let worse = (0..<6).map { F.run(throughput: 100_000, p99Micros: 150 + UInt64($0)) }
        let better = (0..<6).map { F.run(throughput: 100_000, p99Micros: 50 + UInt64($0)) }
        let up = try RegressionGate.compare(base: F.sourced(base, "base"), new: F.sourced(worse, "new"))
        #expect(up.rows.first { $0.metric.name == "READ p99" }?.verdict == .regression)
        let down = try RegressionGate.compare(base: F.sourced(base, "base"), new: F.sourced(better, "new"))
        #expect(down.rows.first { $0.metric.name == "READ p99" }?.verdict == .improvement)
        #expect(down.exitStatus == 0)
    }

    @Test("one run per side cannot decide: exit 3 with the number of runs needed")
    func tooFewRuns() throws {
        let report = try RegressionGate.compare(base: F.sourced([F.run(throughput: 100_000, p99Micros: 50)], "base"),
                                                new: F.sourced([F.run(throughput: 50_000, p99Micros: 50)], "new"))
        #expect(report.exitStatus == 3)
        #expect(report.rows.first?.verdict == .insufficientData)
        #expect(report.notes.contains { $0.contains("at least 4 runs per side") })
    }

    @Test("runs of different engines, threads or workload properties are refused (bad input)")
    func mismatches() {
        let base = F.sourced([F.run(throughput: 1, p99Micros: 1)], "base")
        let otherEngine = F.sourced([F.run(throughput: 1, p99Micros: 1, engine: "skiplist")], "new")
        #expect(throws: GateError.configurationMismatch(field: "engine", first: "hash", firstSource: "base 1", other: "skiplist", otherSource: "new 1")) {
            try RegressionGate.compare(base: base, new: otherEngine)
        }
        let otherMix = F.sourced([F.run(throughput: 1, p99Micros: 1, properties: ["readproportion": "0.5"])], "new")
        #expect(throws: GateError.configurationMismatch(field: "property readproportion", first: "(unset)", firstSource: "base 1", other: "0.5", otherSource: "new 1")) {
            try RegressionGate.compare(base: base, new: otherMix)
        }
        // Where the output goes does not matter.
        let otherLabel = F.sourced([F.run(throughput: 1, p99Micros: 1, properties: ["label": "x", "exportfile": "/tmp/y"])], "new")
        #expect(throws: Never.self) { try RegressionGate.compare(base: base, new: otherLabel) }
        #expect(throws: GateError.noRuns(side: "NEW")) { try RegressionGate.compare(base: base, new: []) }
    }

    @Test("errors in NEW that BASE never had fail the gate, whatever the timing")
    func errorsFail() throws {
        let base = (0..<4).map { _ in F.run(throughput: 100_000, p99Micros: 50) }
        let new = (0..<4).map { index in F.run(throughput: 100_000, p99Micros: 50, errors: index == 2 ? 3 : 0) }
        let report = try RegressionGate.compare(base: F.sourced(base, "base"), new: F.sourced(new, "new"))
        #expect(report.rows.first { $0.metric.name == "errors" }?.verdict == .regression)
        #expect(report.exitStatus == 1)
    }

    @Test("a failure series only NEW has is a regression; other one-sided series are notes")
    func oneSidedSeries() throws {
        let base = (0..<4).map { _ in F.run(throughput: 100_000, p99Micros: 50, extraSeries: "UPDATE") }
        let new = (0..<4).map { _ in F.run(throughput: 100_000, p99Micros: 50, extraSeries: "READ-FAILED") }
        let report = try RegressionGate.compare(base: F.sourced(base, "base"), new: F.sourced(new, "new"))
        #expect(report.rows.first { $0.metric.name == "READ-FAILED p99" }?.verdict == .regression)
        #expect(report.rows.first { $0.metric.name == "UPDATE p99" }?.verdict == .oneSided)
        #expect(report.notes.contains("series UPDATE appears only in BASE runs"))
        #expect(report.notes.contains("series READ-FAILED appears only in NEW runs"))
    }

    @Test("counting results are compared exactly: a 2% instruction rise fails, identical counts pass")
    func countingComparison() throws {
        func counting(_ perOp: Double, allocations: UInt64 = 300) -> CountingResult {
            var result = CountingResult(result: F.run(throughput: 100, p99Micros: 1),
                                        profile: CallgrindProfile(inclusiveInstructions: ["kvlab_counted_read": UInt64(perOp * 100)],
                                                                  allocationCalls: allocations, totalInstructions: 0),
                                        valgrind: "valgrind-3.24.0")
            result.metadata.properties["operationcount"] = "100"
            return result
        }
        let same = try RegressionGate.compare(base: [("a", counting(1000))], new: [("b", counting(1000))])
        #expect(same.exitStatus == 0)
        #expect(same.rows.first?.metric.name == "READ instructions")
        let slower = try RegressionGate.compare(base: [("a", counting(1000))], new: [("b", counting(1020))])
        #expect(slower.rows.first?.verdict == .regression)
        let moreAllocations = try RegressionGate.compare(base: [("a", counting(1000))], new: [("b", counting(1000, allocations: 400))])
        #expect(moreAllocations.rows.first { $0.metric.name == "allocations" }?.verdict == .regression)
    }

    @Test("an invalid significance level is refused")
    func invalidSignificance() {
        #expect(throws: GateError.invalidSetting("significance 1.5: expected a level in (0, 1), e.g. 0.05")) {
            try RegressionGate.evaluate([], baseRuns: 1, newRuns: 1, settings: GateSettings(significance: 1.5))
        }
    }
}

/// A fixed-seed generator so shuffles replay.
struct FixedGenerator: RandomNumberGenerator {
    nonisolated(unsafe) static var shared = FixedGenerator(state: 0x6B76_6C61_62)
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
