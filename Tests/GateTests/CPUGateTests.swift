// The timed gate deciding on CPU time per operation: which metric decides, and its verdicts on synthetic runs.

import Foundation
import Measurement
import Testing
@testable import Gate

@Suite("Regression gate on CPU time")
struct CPUGateTests {
    typealias F = GateFixtures

    /// A run whose chunks are all `nanosPerOp` (scaled by `chunkNoise`) with `throughput` wall-clock.
    static func run(nanosPerOp: Double, throughput: Double, engine: String = "hash", chunkNoise: [Double] = [0, 0.01, -0.01]) -> RunResult {
        var result = F.run(throughput: throughput, p99Micros: 50, engine: engine)
        let chunks = chunkNoise.map { UInt64(nanosPerOp * (1 + $0) * Double(RunResult.cpuChunkOperations)) }
        result.cpuChunkNanoseconds = chunks
        // The whole run's CPU per operation is the chunks' mean, whatever operation count the fixture has.
        let meanPerOp = Double(chunks.reduce(0, +)) / Double(chunks.count) / Double(RunResult.cpuChunkOperations)
        result.threadCPUNanoseconds = UInt64(meanPerOp * Double(result.operations))
        return result
    }

    // Run-to-run noise of ±2% in CPU time and ±20% in throughput, as measured on the shared machine.
    static let cpuNoise = [0.0, 0.02, -0.015, 0.01, -0.02, 0.015]
    static let wallNoise = [0.0, -0.2, 0.15, -0.1, 0.2, -0.05]

    @Test("a 10% CPU/op rise under ±2% noise is a regression while the ±20% throughput noise is only reported")
    func catchesCPURise() throws {
        let base = zip(Self.cpuNoise, Self.wallNoise).map { Self.run(nanosPerOp: 500 * (1 + $0), throughput: 100_000 * (1 + $1)) }
        let new = zip(Self.cpuNoise.reversed(), Self.wallNoise).map { Self.run(nanosPerOp: 550 * (1 + $0), throughput: 100_000 * (1 + $1)) }
        let report = try RegressionGate.compare(base: F.sourced(base, "base"), new: F.sourced(new, "new"))
        #expect(report.timedMetric == .cpu)
        let cpu = try #require(report.rows.first)
        #expect(cpu.metric.name == "OVERALL CPU/op")
        #expect(cpu.metric.gated)
        #expect(cpu.verdict == .regression)
        #expect(try #require(cpu.relativeShift) > 0.08)
        let throughput = try #require(report.rows.first { $0.metric.name == "OVERALL throughput" })
        #expect(!throughput.metric.gated)
        #expect(report.rows.first { $0.metric.name == "READ p99" }?.metric.gated == false)
        #expect(report.exitStatus == 1)
        #expect(report.textTable().contains("(not gated)"))
        #expect(report.textTable().contains("gated on CPU time per operation"))
    }

    @Test("unchanged CPU/op passes even when wall-clock throughput dropped 30% (a busy neighbour), shown as not gated")
    func wallClockNoiseNotGated() throws {
        let base = Self.cpuNoise.map { Self.run(nanosPerOp: 500 * (1 + $0), throughput: 100_000) }
        let new = Self.cpuNoise.reversed().map { Self.run(nanosPerOp: 500 * (1 + $0), throughput: 70_000) }
        let report = try RegressionGate.compare(base: F.sourced(base, "base"), new: F.sourced(new, "new"))
        let throughput = try #require(report.rows.first { $0.metric.name == "OVERALL throughput" })
        #expect(throughput.verdict == .regression)
        #expect(report.exitStatus == 0)
        #expect(report.textTable().contains("regression (not gated)"))
        #expect(!report.markdownTable().contains("**regression**"))
    }

    @Test("automatic falls back to throughput for server targets and for runs without CPU time")
    func automaticFallback() throws {
        let server = (0..<4).map { _ in Self.run(nanosPerOp: 500, throughput: 100_000, engine: "redis://127.0.0.1:6379") }
        let overNetwork = try RegressionGate.compare(base: F.sourced(server, "base"), new: F.sourced(server, "new"))
        #expect(overNetwork.timedMetric == .throughput)
        #expect(overNetwork.rows.first?.metric.name == "OVERALL throughput")
        #expect(overNetwork.rows.first?.metric.gated == true)
        // One BASE file from an older kvlab (no CPU time) is enough to fall back.
        var mixed = (0..<4).map { _ in Self.run(nanosPerOp: 500, throughput: 100_000) }
        let newRuns = mixed
        mixed[0] = F.run(throughput: 100_000, p99Micros: 50)
        let old = try RegressionGate.compare(base: F.sourced(mixed, "base"), new: F.sourced(newRuns, "new"))
        #expect(old.timedMetric == .throughput)
        #expect(!old.rows.contains { $0.metric.name == "OVERALL CPU/op" })
    }

    @Test("asking for the CPU metric where it cannot be used is bad input naming the run; asking for throughput gates wall-clock")
    func explicitMetric() throws {
        let plain = F.sourced([F.run(throughput: 1, p99Micros: 1)], "base")
        let cpuRuns = F.sourced([Self.run(nanosPerOp: 500, throughput: 1)], "new")
        #expect(throws: GateError.invalidSetting("--metric cpu: base 1 has no CPU chunks (overall.cpuChunkNs; written by kvlab run from issue 17 on, with at least 2048 measured operations); use --metric throughput")) {
            try RegressionGate.compare(base: plain, new: cpuRuns, settings: GateSettings(timedMetric: .cpu))
        }
        let server = F.sourced([Self.run(nanosPerOp: 500, throughput: 1, engine: "memcached://h:1")], "base")
        #expect(throws: GateError.self) {
            try RegressionGate.compare(base: server, new: server, settings: GateSettings(timedMetric: .cpu))
        }
        let wall = try RegressionGate.compare(base: cpuRuns, new: cpuRuns, settings: GateSettings(timedMetric: .throughput))
        #expect(wall.timedMetric == .throughput)
        #expect(wall.rows.allSatisfy { $0.metric.name != "OVERALL CPU/op" })
    }

    @Test("each run's gated value is its fastest chunk's CPU per operation, whatever its slow chunks")
    func fastestChunk() throws {
        let ops = RunResult.cpuChunkOperations
        var result = F.run(throughput: 1, p99Micros: 1)
        #expect(result.cpuFastestChunkNanosecondsPerOperation == nil)
        result.cpuChunkNanoseconds = [900 * ops, 2_700 * ops, 880 * ops, 905 * ops]
        result.threadCPUNanoseconds = 5_385 * ops
        #expect(result.cpuFastestChunkNanosecondsPerOperation == 880)
        let base = (0..<4).map { _ in result }
        var slowerTail = result
        slowerTail.cpuChunkNanoseconds = [880 * ops, 5_000 * ops, 5_000 * ops, 5_000 * ops]
        let report = try RegressionGate.compare(base: F.sourced(base, "base"), new: F.sourced((0..<4).map { _ in slowerTail }, "new"))
        #expect(report.rows.first?.baseMedian == 880)
        #expect(report.rows.first?.newMedian == 880)
        #expect(report.exitStatus == 0)
    }

    @Test("a CPU/op shift below the limit passes even when significant")
    func smallShiftPasses() throws {
        let base = (0..<8).map { Self.run(nanosPerOp: 500 + Double($0), throughput: 1) }
        let new = (0..<8).map { Self.run(nanosPerOp: 515 + Double($0), throughput: 1) }
        let report = try RegressionGate.compare(base: F.sourced(base, "base"), new: F.sourced(new, "new"))
        let cpu = try #require(report.rows.first)
        #expect(try #require(cpu.pValue) < 0.05)
        #expect(cpu.verdict == .pass)
        #expect(report.exitStatus == 0)
    }
    @Test("a rare cost the fastest chunk skips (one chunk in eight 3.2x as slow, +28% over the run) fails the whole-run row; ordinary whole-run spread passes")
    func wholeRunCatchesRareCost() throws {
        // Eight chunks each; NEW has one chunk per run 3.2x as slow (a resize), so its fastest chunk is unchanged.
        let steady = [0.0, 0.01, -0.01, 0.005, -0.005, 0.0, 0.01, -0.01]
        let base = Self.cpuNoise.map { Self.run(nanosPerOp: 500 * (1 + $0), throughput: 100_000, chunkNoise: steady) }
        let spiked = steady.enumerated().map { $0.offset == 4 ? 2.2 : $0.element }
        let new = Self.cpuNoise.reversed().map { Self.run(nanosPerOp: 500 * (1 + $0), throughput: 100_000, chunkNoise: spiked) }
        let report = try RegressionGate.compare(base: F.sourced(base, "base"), new: F.sourced(new, "new"))
        let fastest = try #require(report.rows.first { $0.metric.name == "OVERALL CPU/op" })
        let whole = try #require(report.rows.first { $0.metric.name == "OVERALL CPU/op, whole run" })
        #expect(fastest.verdict == .pass)
        #expect(whole.metric.gated)
        #expect(whole.metric.limit == 0.15)
        #expect(whole.verdict == .regression)
        #expect(report.exitStatus == 1)
        // A 10% whole-run rise is inside the wider limit: only the fastest chunk gates that size.
        let mild = steady.enumerated().map { $0.offset == 4 ? 0.8 : $0.element }
        let mildNew = Self.cpuNoise.reversed().map { Self.run(nanosPerOp: 500 * (1 + $0), throughput: 100_000, chunkNoise: mild) }
        let mildReport = try RegressionGate.compare(base: F.sourced(base, "base"), new: F.sourced(mildNew, "new"))
        #expect(mildReport.rows.first { $0.metric.name == "OVERALL CPU/op, whole run" }?.verdict == .pass)
        #expect(mildReport.exitStatus == 0)
    }

    @Test("runs too short to outlast a slow stretch get a note naming the operations per run to use")
    func shortRunNote() throws {
        let runs = Self.cpuNoise.map { Self.run(nanosPerOp: 500 * (1 + $0), throughput: 100_000) }
        let report = try RegressionGate.compare(base: F.sourced(runs, "base"), new: F.sourced(runs, "new"))
        #expect(report.notes.contains { $0.contains("only 3 CPU chunks") && $0.contains("3.0M operations per run") })
        let long = Self.cpuNoise.map { Self.run(nanosPerOp: 500 * (1 + $0), throughput: 100_000, chunkNoise: Array(repeating: 0, count: RegressionGate.steadyRunChunks)) }
        let quiet = try RegressionGate.compare(base: F.sourced(long, "base"), new: F.sourced(long, "new"))
        #expect(!quiet.notes.contains { $0.contains("CPU chunks") })
    }
}

@Suite("Counting gate with allocations reported")
struct CountingAllocationsReportedTests {
    @Test("with allocations reported, an allocation rise is shown as not gated and only instructions decide")
    func allocationsReported() throws {
        func counting(_ perOp: Double, allocations: UInt64) -> CountingResult {
            var result = CountingResult(result: GateFixtures.run(throughput: 100, p99Micros: 1),
                                        profile: CallgrindProfile(inclusiveInstructions: ["kvlab_counted_read": UInt64(perOp * 100)],
                                                                  allocationCalls: allocations, totalInstructions: 0),
                                        valgrind: "valgrind-3.24.0")
            result.metadata.properties["operationcount"] = "100"
            return result
        }
        var settings = GateSettings()
        settings.gateAllocations = false
        let moreAllocations = try RegressionGate.compare(base: [("a", counting(1000, allocations: 8))], new: [("b", counting(1000, allocations: 15))],
                                                         settings: settings)
        let row = try #require(moreAllocations.rows.first { $0.metric.name == "allocations" })
        #expect(row.verdict == .regression)
        #expect(!row.metric.gated)
        #expect(moreAllocations.exitStatus == 0)
        let slower = try RegressionGate.compare(base: [("a", counting(1000, allocations: 8))], new: [("b", counting(1020, allocations: 8))],
                                                settings: settings)
        #expect(slower.exitStatus == 1)
    }
}

@Suite("Regression gate on CPU time: automatic choice")
struct CPUGateAutomaticTests {
    @Test("automatic keeps wall-clock for runs of several threads and for lsm and btree, whose waits and own threads CPU time does not see")
    func automaticKeepsWallClockWhereCPUTimeIsBlind() throws {
        func runs(engine: String, threads: Int) -> [RunResult] {
            (0..<4).map { _ in
                var result = CPUGateTests.run(nanosPerOp: 500, throughput: 100_000, engine: engine)
                result.metadata.threads = threads
                return result
            }
        }
        for (engine, threads) in [("hash", 4), ("lsm", 1), ("btree", 1)] {
            let r = runs(engine: engine, threads: threads)
            let report = try RegressionGate.compare(base: GateFixtures.sourced(r, "base"), new: GateFixtures.sourced(r, "new"))
            #expect(report.timedMetric == .throughput, "\(engine) with \(threads) threads")
            #expect(report.rows.first?.metric.name == "OVERALL throughput")
            #expect(report.rows.first?.metric.gated == true)
            // Asked for explicitly, the CPU metric is still available.
            let forced = try RegressionGate.compare(base: GateFixtures.sourced(r, "base"), new: GateFixtures.sourced(r, "new"),
                                                    settings: GateSettings(timedMetric: .cpu))
            #expect(forced.timedMetric == .cpu)
        }
        let single = runs(engine: "hash", threads: 1)
        let report = try RegressionGate.compare(base: GateFixtures.sourced(single, "base"), new: GateFixtures.sourced(single, "new"))
        #expect(report.timedMetric == .cpu)
    }
}
