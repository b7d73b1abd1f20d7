// Driver-thread CPU time in results: the chunk statistic, the result file's optional fields, merging.

import Foundation
import Testing
@testable import Measurement

@Suite("Thread CPU time in results")
struct ThreadCPUResultTests {
    func withCPU(_ chunks: [UInt64], total: UInt64, seed: UInt64 = 7) -> RunResult {
        var result = Fixtures.result(seed: seed, count: 4096, runtimeMs: 10)
        result.threadCPUNanoseconds = total
        result.cpuChunkNanoseconds = chunks
        return result
    }

    @Test("the chunk statistic is the median chunk divided by the chunk's operations, untouched by one slow chunk")
    func chunkMedian() {
        // Four chunks near 1 µs/op and one three times slower (a neighbour on the core).
        let ops = RunResult.cpuChunkOperations
        let result = withCPU([1_000 * ops, 1_020 * ops, 3_000 * ops, 990 * ops, 1_010 * ops], total: 7_020 * ops)
        #expect(result.cpuChunkMedianNanosecondsPerOperation == 1_010)
        #expect(withCPU([1_000 * ops, 1_100 * ops], total: 1).cpuChunkMedianNanosecondsPerOperation == 1_050)
        #expect(withCPU([], total: 0).cpuChunkMedianNanosecondsPerOperation == nil)
        #expect(result.cpuNanosecondsPerOperation == Double(7_020 * ops) / 4096)
    }

    @Test("CPU time and chunks survive writing and reading the result file and validate against the schema")
    func roundTrip() throws {
        let result = withCPU([2_000_000, 2_100_000], total: 4_300_000)
        let data = ResultFile.encode(result)
        let back = try ResultFile.decode(data, file: "cpu.json")
        #expect(back == result)
        #expect(back.threadCPUNanoseconds == 4_300_000)
        #expect(back.cpuChunkNanoseconds == [2_000_000, 2_100_000])
        let json = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let overall = try #require(json["overall"] as? [String: Any])
        #expect(overall["cpuNsPerOp"] as? Double == 4_300_000.0 / 4096)
        #expect(overall["cpuChunkOperations"] as? Int == 2048)
        let schema = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: SchemaValidationTests.schemaURL)) as? [String: Any])
        let problem = SchemaValidator.validate(json, against: schema)
        #expect(problem == nil, "\(problem ?? "")")
    }

    @Test("a result file without CPU fields (kvlab before issue 17) loads with no CPU time and is written without them")
    func oldFileLoads() throws {
        let old = Fixtures.result(seed: 3, count: 100, runtimeMs: 50)
        let data = ResultFile.encode(old)
        let json = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let overall = try #require(json["overall"] as? [String: Any])
        #expect(Set(overall.keys) == ["runtimeMs", "operations", "throughput"])
        let back = try ResultFile.decode(data, file: "old.json")
        #expect(back.threadCPUNanoseconds == nil)
        #expect(back.cpuChunkNanoseconds == nil)
        #expect(back == old)
    }

    @Test("chunks of another size are refused naming the field")
    func otherChunkSizeRefused() throws {
        let data = ResultFile.encode(withCPU([1, 2], total: 3))
        let text = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\"cpuChunkOperations\" : 2048", with: "\"cpuChunkOperations\" : 1000")
        #expect(text != String(decoding: data, as: UTF8.self))
        #expect(throws: ResultFileError.self) { try ResultFile.decode(Data(text.utf8), file: "odd.json") }
        do {
            _ = try ResultFile.decode(Data(text.utf8), file: "odd.json")
        } catch {
            #expect(error.description.contains("odd.json: $.overall.cpuChunkOperations is 1000, expected 2048"), "\(error)")
        }
    }

    @Test("merging sums CPU time and keeps every chunk; a source without CPU time leaves the merge without it")
    func merging() throws {
        let a = withCPU([10, 20], total: 40, seed: 1)
        let b = withCPU([30], total: 35, seed: 2)
        let merged = try ResultMerger.merge([a, b])
        #expect(merged.threadCPUNanoseconds == 75)
        #expect(merged.cpuChunkNanoseconds == [10, 20, 30])
        let without = try ResultMerger.merge([a, Fixtures.result(seed: 4, count: 10, runtimeMs: 1)])
        #expect(without.threadCPUNanoseconds == nil)
        #expect(without.cpuChunkNanoseconds == nil)
    }

    @Test("sums past the integer's range in hand-made files are a merge error naming the field, not a trap")
    func overflowingSums() throws {
        let a = withCPU([10], total: UInt64.max - 5, seed: 1)
        let b = withCPU([10], total: 10, seed: 2)
        #expect(throws: ResultMergeError.sumOverflow(field: "threadCpuNs")) { try ResultMerger.merge([a, b]) }
        var huge = Fixtures.result(seed: 3, count: 10, runtimeMs: 1)
        huge.operations = .max
        #expect(throws: ResultMergeError.sumOverflow(field: "operations")) {
            try ResultMerger.merge([huge, Fixtures.result(seed: 4, count: 10, runtimeMs: 1)])
        }
    }
}
