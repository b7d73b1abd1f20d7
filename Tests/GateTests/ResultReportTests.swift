// The results report: table rows per run and series, three plots with axes and units, a standalone page.

import Foundation
import Measurement
import Testing
@testable import Gate

@Suite("Results report")
struct ResultReportTests {
    func runs() -> [SourcedResult] {
        (0..<3).map { index in
            var result = GateFixtures.run(throughput: 100_000 + Double(index) * 5_000, p99Micros: 40 + UInt64(index) * 10,
                                          properties: ["readproportion": "0.5", "updateproportion": "0.5"])
            result.metadata.startTime = Date(timeIntervalSince1970: 1_775_044_800 + Double(2 - index) * 60)
            return SourcedResult(source: "results/run-\(index).json", result: result)
        }
    }

    @Test("the markdown table has a row per run and series, oldest run first")
    func markdown() {
        let table = ResultReport(runs: runs()).markdownTable()
        let rows = table.split(separator: "\n").dropFirst(2)
        #expect(rows.count == 3)
        #expect(rows.first?.contains("run-2.json") == true)
        #expect(table.contains("read 0.5 update 0.5"))
        #expect(table.contains("| READ | 100 |"))
    }

    @Test("the page holds three plots with axis titles and units, and no external resources")
    func html() throws {
        let page = try ResultReport(runs: runs()).html(title: "baselines")
        #expect(page.components(separatedBy: "<svg ").count == 4)
        for text in ["throughput (ops/s)", "latency (µs)", "run, in start-time order (#)", "percentile", "READ p99", "99.9%"] {
            #expect(page.contains(text), "missing \(text)")
        }
        #expect(!page.contains("<script"))
        #expect(!page.contains("http://") || page.components(separatedBy: "http://").count - 1 == 3)   // only the SVG namespaces
    }
}
