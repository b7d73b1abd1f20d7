// kvlab bench's phases: the right operations, on the right keys, reported in db_bench's shape.

import KVBench
import KVCore
import KVEngines
import Testing

@Suite("kvlab bench runner")
struct BenchRunnerTests {
    @Test("every phase runs on a storing engine and finds every key it wrote")
    func allPhases() throws {
        let config = BenchConfiguration(num: 2_000, keySize: 16, valueSize: 100, seed: 5)
        let runner = BenchRunner(configuration: config) { () throws(EngineError) in try StandardEngines.registry.open("skiplist") }
        let results = try runner.run()
        #expect(results.map(\.phase) == BenchPhase.allCases)
        let byPhase = Dictionary(uniqueKeysWithValues: results.map { ($0.phase, $0) })
        #expect(byPhase[.readrandom]?.found == 2_000)
        #expect(byPhase[.readseq]?.found == 2_000)
        #expect(byPhase[.deleterandom]?.found == 2_000)
        #expect(byPhase[.fillseq]?.bytesWritten == 2_000 * 116)
        let memory = try #require(byPhase[.fillseq]?.memory)
        #expect(memory.records == 2_000 && memory.rawBytesPerRecord == 116)
        // (How many bytes per record is checked by the CLI test, in a process of its own:
        // here other tests allocate in parallel and move the process-wide figures.)
        #expect(byPhase[.deleterandom]?.memory?.records == 0)
    }

    @Test("readseq is skipped with a reason on an engine without ordered scans")
    func readseqSkipped() throws {
        let config = BenchConfiguration(num: 500, phases: [.readseq])
        let results = try BenchRunner(configuration: config) { () throws(EngineError) in try StandardEngines.registry.open("hash") }.run()
        #expect(results.count == 1)
        #expect(results[0].skippedReason == "engine 'hash' has no ordered scan")
        #expect(BenchReport.line(results[0], num: 500) == "readseq      : skipped (engine 'hash' has no ordered scan)")
    }

    @Test("result lines have db_bench's shape")
    func lineShape() {
        let r = BenchPhaseResult(phase: .fillrandom, operations: 1_000_000, nanoseconds: 1_234_000_000, bytesWritten: 116_000_000)
        #expect(BenchReport.line(r, num: 1_000_000) == "fillrandom   :       1.234 micros/op     810373 ops/sec;   89.6 MB/s")
        let read = BenchPhaseResult(phase: .readrandom, operations: 10, nanoseconds: 5_000, bytesWritten: 0, found: 9)
        #expect(BenchReport.line(read, num: 10) == "readrandom   :       0.500 micros/op    2000000 ops/sec; (9 of 10 found)")
    }

    @Test("an overwrite step can change the value size, for fragmentation runs")
    func overwriteWithOtherSize() throws {
        let steps = try BenchConfiguration.parseSteps("fillrandom,overwrite:1024,overwrite:100")
        #expect(steps == [BenchStep(.fillrandom), BenchStep(.overwrite, valueSize: 1024), BenchStep(.overwrite, valueSize: 100)])
        let config = BenchConfiguration(num: 1_000, keySize: 16, valueSize: 100, seed: 1, steps: steps)
        let results = try BenchRunner(configuration: config) { () throws(EngineError) in try StandardEngines.registry.open("hash") }.run()
        #expect(results.map(\.valueSize) == [100, 1024, 100])
        #expect(results[1].bytesWritten == 1_000 * (16 + 1024))
        #expect(throws: BenchError.self) { try BenchConfiguration.parseSteps("readrandom:10") }
    }

    @Test("bad phase names and key sizes too small for the key numbers are rejected")
    func badConfiguration() {
        #expect(throws: BenchError.unknownPhase(name: "readall", known: BenchPhase.allCases.map(\.rawValue))) {
            try BenchConfiguration.parsePhases("fillseq, readall")
        }
        #expect(throws: BenchError.self) { try BenchConfiguration(num: 1000, keySize: 2).validate() }
    }
}
