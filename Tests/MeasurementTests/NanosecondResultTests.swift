// Nanosecond recording: sub-µs resolution, and version-1 (µs) result files still read, merge and compare.

import Foundation
import Histogram
import Testing
@testable import Measurement

/// The repository's `results/` folder.
let resultsDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("results")

@Suite struct NanosecondResultTests {
    @Test("sub-microsecond operations keep distinct percentiles instead of all landing in the 0 or 1 µs bucket")
    func subMicrosecondResolution() throws {
        var recorder = OperationRecorder()
        // 300 ns to 1199 ns: in whole µs these were only the values 0 and 1.
        for nanos in 300..<1200 { recorder.record(series: .read, nanos: UInt64(nanos), status: .ok) }
        let result = RunResult(metadata: Fixtures.metadata(), runtimeMilliseconds: 1, operations: 900, recorders: [recorder])
        let stats = LatencyStatistics(try #require(result.series(named: "READ")).histogram, percentiles: [10, 50, 90, 99])
        #expect(stats.percentiles.map(\.value) == [389, 749, 1109, 1190])
        // The JSON keeps them in ns beside YCSB's whole µs.
        let json = try #require(JSONSerialization.jsonObject(with: ResultFile.encode(result)) as? [String: Any])
        let series = try #require((json["series"] as? [[String: Any]])?.first)
        #expect((series["percentilesNs"] as? [String: Int])?["50"] == 749)
        #expect((series["percentiles"] as? [String: Int])?["50"] == 1)
        #expect(series["minNs"] as? Int == 300)
        #expect(series["maxNs"] as? Int == 1199)
        #expect(abs((series["averageNs"] as? Double ?? 0) - 749.5) < 0.01)
        #expect(abs((series["averageUs"] as? Double ?? 0) - 0.7495) < 0.00001)
        // And a version-2 file reads back to the same nanosecond histogram.
        #expect(try ResultFile.decode(ResultFile.encode(result), file: "v2.json") == result)
    }

    @Test("the committed version-1 baseline reads as ns with its µs percentiles unchanged to within 0.1%")
    func versionOneBaselineStillReads() throws {
        let url = resultsDirectory.appendingPathComponent("baseline-workloadb-hash.json")
        let data = try Data(contentsOf: url)
        let raw = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(raw["version"] as? Int == 1)
        let result = try ResultFile.read(contentsOf: url)
        let documents = try #require(raw["series"] as? [[String: Any]])
        #expect(documents.count == result.series.count)
        for (document, series) in zip(documents, result.series) {
            #expect(series.histogram.highestTrackableValue == LatencyHistogram.highestTrackableNanoseconds)
            #expect(series.operations == document["operations"] as? UInt64)
            let stated = try #require(document["percentiles"] as? [String: UInt64])
            let stats = LatencyStatistics(series.histogram, percentiles: ResultFile.jsonPercentiles)
            for p in stats.percentiles {
                let micros = try #require(stated[ResultFile.percentileKey(p.percentile)])
                let now = LatencyUnits.microseconds(p.value)
                #expect(abs(now - Double(micros)) <= max(1, Double(micros) * 0.001),
                        "\(series.name) p\(p.percentile): file says \(micros) µs, read as \(now) µs")
            }
        }
    }

    @Test("a version-1 result merges and compares with a version-2 one")
    func versionsMix() throws {
        let old = try ResultFile.read(contentsOf: resultsDirectory.appendingPathComponent("baseline-workloadb-hash.json"))
        var recorder = OperationRecorder()
        for nanos in 500..<1500 { recorder.record(series: .read, nanos: UInt64(nanos), status: .ok) }
        var new = RunResult(metadata: old.metadata, runtimeMilliseconds: 1, operations: 1000, recorders: [recorder])
        new.metadata.threads = old.metadata.threads
        let merged = try ResultMerger.merge([old, new])
        let oldReads = try #require(old.series(named: "READ")).operations
        #expect(try #require(merged.series(named: "READ")).operations == oldReads + 1000)
        let comparison = ResultComparison(base: old, new: new)
        #expect(comparison.rows.contains { $0.series == "READ" && $0.metric == "p50(us)" && $0.new == 0.999 })
        // Written again, the merge is a version-2 file.
        let reread = try ResultFile.decode(ResultFile.encode(merged), file: "merged.json")
        #expect(reread == merged)
    }
}
